"""Tiny `benign repro` runs: the real grids at a few seconds a cell (1 epoch, 200 training
points, PGD-2 on 32 test points)."""

from __future__ import annotations

import pytest

from tests.cli.helpers import run_benign

TINY = [
    "--quick",
    "--no-progress",
    "--set", "args.trainer.max_epochs=1",
    "--set", "args.data.train_subset=200",
    "--set", "eval.max_samples=32",
    "--set", "eval.eps=[0.0,0.05,0.1]",
    "--set", "eval.attack={class_path: benign.attacks.PGD, init_args: {eps: 0.1, steps: 2}}",
    "--set", "memorization.every_n_epochs=1",
]  # fmt: skip

#: Per experiment, the grid edits that keep it to two or three cells.
GRIDS = {
    "label-noise": [
        "--set",
        "noise_rates=[0.0,0.4]",
        "--set",
        "compare={noise_rate: 0.4, noise_types: [symmetric, class_subset]}",
    ],
    "memorization": ["--set", "train_eps={AT: [0.1], TRADES: [0.1]}"],
    "fine-vs-coarse": [],
    "fine-vs-coarse-factors": [
        "--set",
        "factors={optimizer: {sgd: {}, adam: {model: {init_args: {optimizer: "
        "{class_path: torch.optim.Adam, init_args: {lr: 0.001}}}}}}}",
        "--set",
        "base={}",
    ],
    "mislabelled": [
        "--set",
        "noise_rate=0.1",
        "--set",
        "noise_types=[symmetric]",
        "--set",
        "logreg_pixels={folds: 3}",
        "--set",
        "cleanlab={folds: 2, method: ERM}",
        "--set",
        "candidates=8",
    ],
}


def tiny_repro(experiment: str, out: str, monkeypatch: pytest.MonkeyPatch, *extra: str) -> None:
    """Run ``benign repro <experiment>`` with :data:`TINY` settings into ``out``."""
    argv = ["repro", experiment, "--out", out, *TINY, *GRIDS[experiment], *extra]
    assert run_benign(argv, monkeypatch) == 0
