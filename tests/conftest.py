"""Shared test setup: no network, no wandb service unless a test asks for it."""

import os

import pytest

# Tests never talk to the network; wandb is exercised by dedicated tests that set its mode.
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
# The test models are tiny: intra-op threads only add hand-off latency, which on a busy 2-core
# machine dominates (20 ms instead of 0.05 ms for a small op). Subprocesses inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import torch  # noqa: E402  (after the thread variables, so they take effect)

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Run every test in its own directory so runs/ and data/ never leak between tests."""
    monkeypatch.chdir(tmp_path)
    yield


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def repo_root() -> str:
    """Absolute path of the checkout (tests run from a temporary cwd)."""
    return REPO_ROOT
