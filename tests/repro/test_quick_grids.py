"""The full `--quick` grids on digits (one seed each, minutes to an hour on a CPU): the paper's
findings as issue 4 states them, on the numbers `benign repro` writes. `make test-slow`."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from tests.cli.helpers import run_benign

pytestmark = pytest.mark.slow


def quick(experiment: str, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    out = os.path.join("repro_out", experiment)
    argv = ["repro", experiment, "--quick", "--seeds", "1", "--out", out, "--no-progress"]
    assert run_benign(argv, monkeypatch) == 0
    for name in ("figure.png", "summary.md"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    return pd.read_csv(os.path.join(out, "results.csv"))


def value(results: pd.DataFrame, metric: str, eps: float | None = None, **where: object) -> float:
    rows = results[results["metric"] == metric]
    rows = rows[rows["eps"].isna()] if eps is None else rows[(rows["eps"] - eps).abs() < 1e-9]
    for column, wanted in where.items():
        rows = rows[rows[column] == wanted]
    assert len(rows) == 1, (metric, eps, where)
    return float(rows["value"].iloc[0])


def test_label_noise_quick_robust_accuracy_falls_with_the_noise_it_fits(monkeypatch):
    results = quick("label-noise", monkeypatch)
    sym = results[results["noise_type"] == "symmetric"]
    robust = [value(sym, "robust_acc", 0.05, noise_rate=r) for r in (0.0, 0.1, 0.2, 0.4)]
    assert all(a - b >= 0.05 for a, b in zip(robust, robust[1:], strict=False)), robust
    for rate in (0.1, 0.2, 0.4):
        assert value(sym, "acc_noisy", noise_rate=rate) >= 0.95  # trained to interpolation
    assert value(results, "acc_noisy", noise_type="class_subset") >= 0.95


def test_memorization_quick_robust_training_fits_less_noise_than_erm(monkeypatch):
    results = quick("memorization", monkeypatch)
    erm = value(results, "acc_noisy", method="ERM")
    assert erm >= 0.95
    for method in ("AT", "TRADES"):
        fitted = [value(results, "acc_noisy", method=method, train_eps=e) for e in (0.05, 0.1, 0.2)]
        # the stronger the training attack, the less noise is fitted; from the reference eps 0.1
        # on (configs/digits/at.yaml) at most a fifth of it (issue 3's acceptance bound)
        assert fitted[0] > fitted[1] and max(fitted[1:]) <= 0.2, (method, fitted)


def test_fine_vs_coarse_quick_fine_labels_are_more_robust_on_the_coarse_task(monkeypatch):
    results = quick("fine-vs-coarse", monkeypatch)
    fine = value(results, "coarse_robust_acc", 0.1, label_level="fine")
    coarse = value(results, "coarse_robust_acc", 0.1, label_level="coarse")
    assert fine - coarse >= 0.05, (fine, coarse)


def test_mislabelled_quick_robust_ranking_finds_planted_flips(monkeypatch):
    results = quick("mislabelled", monkeypatch)
    assert value(results, "precision_at_k", method="AT") >= 0.8
    assert os.path.getsize(os.path.join("repro_out", "mislabelled", "candidates.png")) > 0
