"""E7 ``boundary``: with no label noise at all, AT and TRADES are still more robust than ERM.

PAPER.md, "The experiments", E7 (Sanyal et al., ICLR 2021, Sec. 4): on clean labels robust
training still buys robustness, and the paper explains it by the *decision boundary*: the
robust models' boundaries are more complex. Per seed, ERM, AT and TRADES (one backbone, the
memorisation experiment's training eps) are trained on clean labels; each run reports its clean
and robust test accuracy over the eps grid (the default evaluation) and three measures of its
decision boundary on ``points`` test points (:mod:`benign.analysis.boundary`):

* ``boundary_changes``: predicted-class changes along the straight segment between two random
  test points (``pairs`` segments, ``segment_steps`` steps; Novak et al., ICLR 2018), and
  ``boundary_changes_same`` over the pairs of the same true class (a simple boundary: 0);
* ``local_linearity`` (eps column: its ball radius): the mean over test points of
  ``max_{|d|_inf <= eps} |l(x+d) - l(x) - d . grad l(x)|`` of the cross-entropy (Qin et al.,
  NeurIPS 2019);
* ``boundary_distance_median`` / ``_mean``: each clean-correct test point's smallest linf eps
  at which PGD changes its prediction, by bisection up to ``max_eps`` (censored there).

The summary gives every method's values and the paired differences robust method minus ERM
(same seed) with 95% intervals. Settings: ``configs/experiments/boundary.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from benign.analysis.boundary import (
    boundary_distance,
    cross_entropy_loss,
    local_linearity,
    segment_changes,
)
from benign.data.datasets import to_float
from benign.errors import ConfigError
from benign.repro.base import Cell, Row
from benign.repro.config import Settings
from benign.repro.experiments.boundary_report import boundary_figure, boundary_summary
from benign.repro.experiments.fit import FitExperiment
from benign.repro.results import make_row

METHODS = ("ERM", "AT", "TRADES")
#: The measures' defaults (``boundary`` block of the settings).
MEASURE_DEFAULTS: dict[str, Any] = {
    "points": 500,
    "pairs": 500,
    "segment_steps": 64,
    "linearity_eps": 0.1,
    "linearity_steps": 10,
    "max_eps": 0.3,
    "bisection_iters": 8,
    "pgd_steps": 10,
    "batch_size": 256,
}


class Boundary(FitExperiment):
    """``benign repro boundary``: robustness and boundary complexity on clean labels (E7)."""

    name = "boundary"

    def cells(self, settings: Settings) -> list[Cell]:
        conf = self.config(settings)
        clean: dict[str, Any] = {"data": {"noise_rate": 0.0, "noise_type": "symmetric"}}
        train_eps = conf.get("train_eps") or {}
        measures = {**MEASURE_DEFAULTS, **(conf.get("boundary") or {})}
        cells = []
        for seed in range(settings.seeds):
            for method in METHODS:
                eps = 0.0 if method == "ERM" else _train_eps(train_eps, method)
                overrides = dict(clean)
                if eps:
                    overrides["model"] = {"init_args": {"attack": {"init_args": {"eps": eps}}}}
                name = f"{method.lower()}-clean-seed{seed}"
                cell = self.fit_cell(settings, conf, name, method, seed, overrides, train_eps=eps)
                cell.extra["boundary"] = measures
                cells.append(cell)
        return cells

    def collect(self, cell: Cell, settings: Settings, cli: Any, run_dir: str) -> list[Row]:
        """The run's metrics plus its boundary measures on the test split."""
        rows = super().collect(cell, settings, cli, run_dir)
        test = cli.datamodule.test_dataset
        measured = measure_boundary(
            cli.model, test.images, test.targets, int(cell.columns["seed"]), cell.extra["boundary"]
        )
        for metric, (value, eps) in measured.items():
            rows.append(make_row(cell.columns, metric, value, eps))
        return rows

    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        """:func:`boundary_figure` at the setting ``headline_eps``."""
        return boundary_figure(results, self.config(settings).get("headline_eps"))

    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        """:func:`boundary_summary` at the setting ``headline_eps``."""
        return boundary_summary(
            results,
            self.command(settings),
            settings.dataset,
            self.config(settings).get("headline_eps"),
        )


def _train_eps(train_eps: Mapping[str, Any], method: str) -> float:
    """The one training eps of ``method`` (a one-line error when the settings lack it)."""
    value = train_eps.get(method)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(
            f"boundary: train_eps must give {method} one positive training eps, got {value!r}: "
            "set e.g. --set 'train_eps={AT: 0.1, TRADES: 0.1}'"
        )
    return float(value)


def _batched(fn: Any, batch_size: int, *tensors: torch.Tensor) -> torch.Tensor:
    return torch.cat(
        [
            fn(*(t[i : i + batch_size] for t in tensors))
            for i in range(0, len(tensors[0]), batch_size)
        ]
    )


def measure_boundary(
    model: Any, images: torch.Tensor, targets: torch.Tensor, seed: int, conf: Mapping[str, Any]
) -> dict[str, tuple[float, float | None]]:
    """The boundary measures of ``model`` on (a seeded subset of) the test split:
    ``{metric: (value, eps)}`` (see the module)."""
    generator = torch.Generator().manual_seed(seed)
    n = min(int(conf["points"]), len(images))
    chosen = torch.randperm(len(images), generator=generator)[:n]
    x, y = to_float(images[chosen]), targets[chosen].long()
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    batch = int(conf["batch_size"])
    try:
        first = torch.randint(n, (int(conf["pairs"]),), generator=generator).to(device)
        second = torch.randint(n, (int(conf["pairs"]),), generator=generator).to(device)
        steps = int(conf["segment_steps"])
        changes = _batched(
            lambda a, b: segment_changes(model, a, b, steps), batch, x[first], x[second]
        ).float()
        same = (y[first] == y[second]).cpu()
        lin_eps = float(conf["linearity_eps"])
        gamma = _batched(
            lambda a, b: local_linearity(
                cross_entropy_loss(model), a, b, lin_eps, int(conf["linearity_steps"]), generator
            ),
            batch,
            x,
            y,
        )
        with torch.no_grad():
            correct = model(x).argmax(dim=1) == y
        distance = _batched(
            lambda a, b: boundary_distance(
                model, a, b, float(conf["max_eps"]), int(conf["bisection_iters"]),
                int(conf["pgd_steps"]),
            ),
            batch,
            x[correct],
            y[correct],
        )  # fmt: skip
    finally:
        model.train(was_training)
    changes, distance = changes.cpu().numpy(), distance.cpu().numpy()
    same_pairs = changes[same.numpy()]
    return {
        "boundary_changes": (float(changes.mean()), None),
        "boundary_changes_same": (float(same_pairs.mean()) if len(same_pairs) else np.nan, None),
        "local_linearity": (float(gamma.mean()), lin_eps),
        "boundary_distance_median": (float(np.median(distance)) if len(distance) else np.nan, None),
        "boundary_distance_mean": (float(distance.mean()) if len(distance) else np.nan, None),
    }
