"""E5 ``theorem1``: Theorem 1 simulated on the ball distribution (PAPER.md, "The theory").

For each configuration (|zeta| balls of radius ``rho`` in ``dim`` dimensions, noise rate
``eta``) and each training-set size ``m`` swept around the theorem's bound
``m* = |zeta| / (eta c2) log(|zeta| / delta)``, every trial draws ``m`` points, flips each
label independently with probability ``eta``, fits an interpolating classifier and measures its
adversarial risk at radius ``2 rho`` on a clean test sample:

- ``1nn``: the 1-nearest-neighbour rule, attacked *exactly* (:mod:`benign.theory.nearest_neighbour`);
- ``mlp``: an MLP trained to zero training error, attacked with PGD (restarts).

The theorem: for ``m >= m*``, with probability ``>= 1 - delta`` the risk is ``>= c1`` (= 1 here).
A trial counts as ``theorem_holds`` when its estimated risk is ``>= c1 - tau`` with
``tau = 1 / (4 |zeta|)``: a quarter of one ball's mass, so a single ball without adversarial
examples always fails it, while a few test points an attack misses do not. Each trial also
records the floor every interpolator must reach (test points within ``2 rho`` of a flipped
training point of their ball) and the share of those points the attack missed (``floor_missed``,
0 for a correct attack on an interpolating model).

``results.csv``: ``method`` = ``1nn`` / ``mlp``; ``dataset`` = ``balls-<norm>-k<|zeta|>-d<dim>-m<m>``;
``noise_rate`` = eta; ``noise_type`` = ``bernoulli``; ``seed`` = the trial; ``eps`` = 2 rho on the
attack metrics. Settings: ``configs/experiments/theorem1.yaml``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from benign.repro.base import Cell, Experiment, Row
from benign.repro.config import Settings, experiment_settings
from benign.repro.experiments.theorem1_report import theorem1_figure, theorem1_summary
from benign.repro.results import make_row
from benign.theory.balls import BallDistribution, interpolation_floor, sample_bound
from benign.theory.interpolating_mlp import error_rate, fit_interpolating_mlp, pgd_vulnerable
from benign.theory.nearest_neighbour import NearestNeighbour

METHODS = ("1nn", "mlp")
#: Metrics measured by an attack at radius 2 rho (their ``eps`` column is filled).
ATTACK_METRICS = ("adv_risk", "adv_risk_lower_bound", "floor_missed")


@dataclass(frozen=True)
class BallConfig:
    """One configuration of Theorem 1's setting and the classifiers fitted on it."""

    num_centres: int
    eta: float
    dim: int
    norm: str
    rho: float = 0.05
    methods: tuple[str, ...] = METHODS

    @property
    def label(self) -> str:
        return f"balls-{self.norm}-k{self.num_centres}-d{self.dim}"

    @property
    def tolerance(self) -> float:
        """``tau``: how far below ``c1`` an estimated risk may be and still count as ``>= c1``."""
        return 1.0 / (4 * self.num_centres)


class Theorem1(Experiment):
    """E5: adversarial risk of interpolating classifiers against Theorem 1's bound.

    The data are always the synthetic balls: ``--dataset`` is not used (``digits``, the CLI's
    default, is accepted for that reason).
    """

    name = "theorem1"
    datasets = ("synthetic", "digits")
    uses_dataset = False

    def config(self, settings: Settings) -> dict[str, Any]:
        """The merged settings of ``configs/experiments/theorem1.yaml`` (quick or full)."""
        return experiment_settings(self.name, dataclasses.replace(settings, dataset="synthetic"))

    def cells(self, settings: Settings) -> list[Cell]:
        conf = self.config(settings)
        cells = []
        for entry in conf["configs"]:
            config = BallConfig(**{**entry, "rho": conf["rho"], "methods": tuple(entry["methods"])})
            unknown = set(config.methods) - set(METHODS)
            if unknown:
                raise ValueError(f"theorem1: unknown methods {sorted(unknown)}; use {METHODS}")
            bound = sample_bound(config.num_centres, config.eta, conf["delta"])
            for factor in conf["factors"]:
                m = max(2, math.ceil(factor * bound))
                for method in config.methods:
                    columns = {
                        "experiment": self.name,
                        "dataset": f"{config.label}-m{m}",
                        "method": method,
                        "backbone": "MLP" if method == "mlp" else None,
                        "noise_rate": config.eta,
                        "noise_type": "bernoulli",
                        "label_level": "fine",
                    }
                    extra = {
                        "config": config,
                        "m": m,
                        "m_bound": bound,
                        "delta": conf["delta"],
                        "trials": int(conf["trials"][method]) * settings.seeds,
                        "num_test": int(conf["num_test"]),
                        "mlp": dict(conf["mlp"]),
                        "attack": dict(conf["attack"]),
                    }
                    name = f"{config.label}-eta{config.eta:g}-m{m}-{method}"
                    cells.append(Cell(name, columns, extra=extra))
        return cells

    def run_cell(self, cell: Cell, settings: Settings) -> list[Row]:
        """All trials of one (configuration, m, method)."""
        extra = cell.extra
        config: BallConfig = extra["config"]
        distribution = BallDistribution(
            config.num_centres, dim=config.dim, rho=config.rho, norm=config.norm
        )
        constants = {
            "m": extra["m"],
            "m_bound": extra["m_bound"],
            "delta": extra["delta"],
            "c1": distribution.c1,
            "num_centres": config.num_centres,
            "tolerance": config.tolerance,
        }
        rows = []
        for trial in range(extra["trials"]):
            measured = run_trial(
                distribution,
                config,
                cell.columns["method"],
                extra["m"],
                trial,
                extra["num_test"],
                extra["mlp"],
                extra["attack"],
            )
            columns = {**cell.columns, "seed": trial}
            for metric, value in {**measured, **constants}.items():
                eps = 2 * config.rho if metric in ATTACK_METRICS else None
                rows.append(make_row(columns, metric, value, eps=eps))
        return rows

    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        """:func:`theorem1_figure`."""
        return theorem1_figure(results)

    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        """:func:`theorem1_summary`."""
        return theorem1_summary(results, self.command(settings))


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Small dense models run fastest on one thread (and leave the other cores alone)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_trial(
    distribution: BallDistribution,
    config: BallConfig,
    method: str,
    m: int,
    trial: int,
    num_test: int,
    mlp: Mapping[str, Any] | None = None,
    attack: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """One draw: fit ``method`` on ``m`` noisy points, attack it at ``2 rho`` on clean test points."""
    sample = distribution.sample(m, config.eta, num_test, seed=trial)
    radius = 2 * config.rho
    if method == "1nn":
        rule = NearestNeighbour(config.norm).fit(sample.train_x, sample.train_observed)
        train_error = float(np.mean(rule.predict(sample.train_x) != sample.train_observed))
        test_error = float(np.mean(rule.predict(sample.test_x) != sample.test_y))
        vulnerable = rule.vulnerable(sample.test_x, sample.test_y, radius)
    elif method == "mlp":
        mlp = dict(mlp or {})
        with _one_thread():
            model, train_error, _ = fit_interpolating_mlp(
                sample.train_x,
                sample.train_observed,
                distribution.num_classes,
                hidden=tuple(mlp.get("hidden", (256, 256))),
                scale=config.rho,
                lr=float(mlp.get("lr", 1e-3)),
                max_steps=int(mlp.get("max_steps", 3000)),
                seed=trial,
            )
            test_error = error_rate(model, sample.test_x, sample.test_y)
            vulnerable = pgd_vulnerable(
                model, sample.test_x, sample.test_y, radius, config.norm, **dict(attack or {})
            )
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    floor = interpolation_floor(
        sample.train_x,
        sample.train_observed,
        sample.test_x,
        sample.test_y,
        radius,
        config.norm,
        train_group=sample.train_ball,
        test_group=sample.test_ball,
    )
    risk = float(vulnerable.mean())
    holds = float(risk >= distribution.c1 - config.tolerance) if train_error == 0 else math.nan
    return {
        "adv_risk": risk,
        "adv_risk_lower_bound": float(floor.mean()),
        "floor_missed": float((floor & ~vulnerable).sum() / max(int(floor.sum()), 1)),
        "train_error": train_error,
        "test_error": test_error,
        "every_ball_flipped": float(sample.every_ball_flipped(config.num_centres)),
        "theorem_holds": holds,
    }
