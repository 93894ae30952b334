"""E5 theorem1 (PAPER.md, Theorem 1): the trials, the grid end to end, and its notebook."""

from __future__ import annotations

import os

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

from benign.repro.config import Settings
from benign.repro.experiments.theorem1 import BallConfig, Theorem1, run_trial
from benign.repro.experiments.theorem1_report import theorem_table
from benign.repro.results import COLUMNS
from benign.repro.runner import run_experiment
from benign.theory.balls import BallDistribution, sample_bound

TINY = (
    "configs=[{num_centres: 4, eta: 0.3, dim: 10, norm: linf, methods: [1nn, mlp]}]",
    "factors=[0.1, 2.0]",
    "trials={1nn: 4, mlp: 1}",
    "num_test=100",
    "attack={steps: 10, restarts: 2}",
)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_theorem_holds_above_the_bound_and_fails_far_below(norm: str) -> None:
    config = BallConfig(4, 0.3, dim=2, norm=norm, methods=("1nn",))
    distribution = BallDistribution(4, dim=2, rho=0.05, norm=norm)
    bound = sample_bound(4, 0.3, 0.1)

    def share(m: int) -> float:
        trials = [run_trial(distribution, config, "1nn", m, t, 200) for t in range(20)]
        assert all(t["train_error"] == 0 and t["floor_missed"] == 0 for t in trials)
        assert all(t["adv_risk"] >= t["adv_risk_lower_bound"] for t in trials)
        return float(np.mean([t["theorem_holds"] for t in trials]))

    assert share(int(np.ceil(2 * bound))) >= 0.9  # 1 - delta
    assert share(int(0.1 * bound)) < 0.5  # too few points: some ball gets no flip


def test_interpolating_mlp_reaches_the_floor() -> None:
    config = BallConfig(4, 0.3, dim=10, norm="linf")
    distribution = BallDistribution(4, dim=10, rho=0.05, norm="linf")
    measured = run_trial(
        distribution, config, "mlp", 100, 0, 200, attack={"steps": 20, "restarts": 2}
    )
    assert measured["train_error"] == 0.0  # it interpolates the noisy labels
    assert measured["adv_risk_lower_bound"] > 0.5
    assert measured["floor_missed"] == 0.0  # PGD breaks every point the floor says it must
    assert measured["adv_risk"] >= measured["adv_risk_lower_bound"]


@pytest.fixture(scope="module")
def tiny_e5(tmp_path_factory) -> tuple[str, Settings]:
    """One tiny grid (2 values of m x 2 methods), shared by the end-to-end and notebook tests."""
    out = str(tmp_path_factory.mktemp("e5") / "theorem1")
    settings = Settings(seeds=1, quick=True, out=out, overrides=TINY)
    run_experiment(Theorem1(), settings, progress=False)
    return out, settings


def test_tiny_grid_end_to_end(tiny_e5, monkeypatch) -> None:
    out, settings = tiny_e5
    written = pd.read_csv(os.path.join(out, "results.csv"))
    assert list(written.columns) == COLUMNS
    assert set(written["method"]) == {"1nn", "mlp"}
    assert set(written["experiment"]) == {"theorem1"}
    metrics = set(written["metric"])
    assert {
        "adv_risk",
        "adv_risk_lower_bound",
        "train_error",
        "theorem_holds",
        "m_bound",
    } <= metrics
    risk = written[written["metric"] == "adv_risk"]
    assert np.allclose(risk["eps"], 0.1) and risk["value"].between(0, 1).all()
    assert written[written["metric"] == "m"]["value"].nunique() == 2
    table = theorem_table(written)
    above = table[table["m / m*"] >= 1]
    assert len(above) == 2 and set(above["verdict"]) <= {"holds", "consistent"}
    summary = open(os.path.join(out, "summary.md")).read()
    assert "0 violated" in summary and "| config |" in summary
    assert os.path.getsize(os.path.join(out, "figure.png")) > 10_000

    def fail(*args, **kwargs):
        raise AssertionError("a finished cell ran again")

    monkeypatch.setattr(Theorem1, "run_cell", fail)
    again = run_experiment(Theorem1(), settings, progress=False)  # resumes: nothing to redo
    assert len(again) == len(written)


def test_notebook_runs_on_tiny_results(tiny_e5, repo_root, monkeypatch) -> None:
    out, _ = tiny_e5
    nb = nbformat.read(os.path.join(repo_root, "notebooks", "05_theorem1.ipynb"), as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)  # stripped
    monkeypatch.setenv("BENIGN_RESULTS", os.path.join(out, "results.csv"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws PNGs
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("holds" in str(o.get("data", {}).get("text/plain", "")) for o in outputs)


@pytest.mark.slow
def test_quick_run_respects_the_theorem(tmp_path) -> None:
    out = str(tmp_path / "theorem1")
    results = run_experiment(Theorem1(), Settings(seeds=1, quick=True, out=out), progress=False)
    table = theorem_table(results)
    above = table[table["m / m*"] >= 1]
    assert len(above) == 6 and (above["verdict"] != "VIOLATED").all()
    assert (table["floor_missed"] == 0).all() and (table["interpolating"] == table["trials"]).all()
    below = table[table["m / m*"] < 0.3]
    assert (below["frac_risk>=c1"] < 0.5).all()  # far below the bound the event fails
