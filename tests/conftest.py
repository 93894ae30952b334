"""Shared test setup: no network, no wandb service unless a test asks for it.

Tests marked ``slurm`` (and any test using the ``slurm`` fixture of ``tests/cluster``) submit
real jobs to the local cluster of ``make slurm``: they skip when no SLURM node answers, except
in CI (``CI=true``), where they fail: ``.ci/run`` runs ``make slurm`` first, so a missing cluster
there is a broken set-up (as the Fashion-MNIST tests treat a missing dataset).
"""

import functools
import os
import subprocess

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


IN_CI = os.environ.get("CI", "").lower() == "true"
# sinfo's compact node states (%t) of a node that runs jobs; a suffix (*, ~, #, ...) means trouble.
_UP_STATES = {"idle", "mix", "alloc", "comp"}


@functools.cache
def slurm_cluster_problem() -> str | None:
    """Why no SLURM cluster can run jobs here, or None when a node of it is up (asked once)."""
    hint = "start one with `make slurm`"
    try:
        out = subprocess.run(["sinfo", "--noheader", "--format", "%t %N"],
                             capture_output=True, text=True, timeout=20)  # fmt: skip
    except FileNotFoundError:
        return f"no SLURM cluster: sinfo is not installed; {hint}"
    except subprocess.TimeoutExpired:
        return f"no SLURM cluster: sinfo did not answer within 20 s; {hint}"
    if out.returncode != 0:
        error = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no SLURM cluster: sinfo failed ({error}); {hint}"
    nodes = [line.split() for line in out.stdout.splitlines() if line.strip()]
    if not any(state in _UP_STATES for state, *_ in nodes):
        states = ", ".join(" ".join(node) for node in nodes) or "no nodes"
        return f"no SLURM node is up (sinfo: {states}); {hint}"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """A test that uses the ``slurm`` fixture is a ``slurm`` test (so ``-m "not slurm"`` drops it)."""
    for item in items:
        if "slurm" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.slurm)


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") is not None and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (marker gpu): torch.cuda.is_available() is False here")
    if item.get_closest_marker("slurm") is None:
        return
    problem = slurm_cluster_problem()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"{problem}; CI must run the slurm tests (.ci/run runs `make slurm` first)")
    pytest.skip(problem)
