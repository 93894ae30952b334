"""Shared test setup: no network, no wandb service unless a test asks for it."""

import os

import pytest

# Tests never talk to the network; wandb is exercised by dedicated tests that set its mode.
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")


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
