"""E3 across recipes: what the sign of the fine-minus-coarse gap depends on.

PAPER.md, E3 (Sanyal et al., ICLR 2021, Sec. 4): training on fine labels makes the coarse task
more robust. On Fashion-MNIST one small recipe measured the opposite sign (README, "E3 on
Fashion-MNIST"). ``benign repro fine-vs-coarse-factors`` runs E3 (coarse- and fine-label ERM,
both scored and attacked on the coarse task of each coarse map) under several training recipes,
one per combination of factor levels of the settings (:mod:`benign.repro.factor_design`):
network capacity, optimiser and training-set size by default. Per recipe and coarse map it
reports the paired gap (fine − coarse, same seed) of coarse robust accuracy with its 95%
interval, and per factor the change of that gap from the base recipe (a difference of paired
differences). Settings: ``configs/experiments/fine-vs-coarse-factors.yaml``.

The fine-label model does not depend on the coarse map: each recipe and seed trains it once, its
run scores the first map (``RobustnessEval``) and :func:`benign.repro.coarse_scores.coarse_scores`
the others, with the same attacks, points and random starts. ``audit_seeds`` limits the
evaluation's costly stronger-attack audit (``sanity_samples``) to the first seeds; every run
keeps the cheaper checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from benign.callbacks import RobustnessEval
from benign.errors import ConfigError
from benign.repro.base import Cell, Row
from benign.repro.coarse_scores import coarse_map_tensor, coarse_scores
from benign.repro.config import Settings
from benign.repro.experiments.fine_vs_coarse import FineVsCoarse, coarse_maps
from benign.repro.experiments.fine_vs_coarse_report import factors_figure, factors_summary
from benign.repro.factor_design import merge_args, recipes
from benign.repro.results import rows_from_metrics


class FineVsCoarseFactors(FineVsCoarse):
    """``benign repro fine-vs-coarse-factors``: E3's gap under each recipe of a factor grid."""

    name = "fine-vs-coarse-factors"

    def cells(self, settings: Settings) -> list[Cell]:
        """Every recipe's E3 cells (its arguments over the settings' ``args``), seed by seed, so
        that a stopped grid has whole seeds of every recipe."""
        conf = self.config(settings)
        grid = recipes(conf)
        audit_seeds = conf.get("audit_seeds", settings.seeds)
        if isinstance(audit_seeds, bool) or not isinstance(audit_seeds, int) or audit_seeds < 0:
            raise ConfigError(
                f"audit_seeds must be a count of seeds >= 0, got {audit_seeds!r}: set e.g. "
                "--set audit_seeds=1"
            )
        cells = []
        for seed in range(settings.seeds):
            edits = {} if seed < audit_seeds else {"sanity_samples": 0}
            for recipe in grid:
                recipe_conf = {**conf, "args": merge_args(conf.get("args") or {}, recipe.args)}
                cells += self.seed_cells(
                    settings, recipe_conf, seed, f"{recipe.slug}-", recipe.tag("ERM"), edits
                )
        return cells

    def seed_cells(
        self,
        settings: Settings,
        conf: Mapping[str, Any],
        seed: int,
        prefix: str = "",
        method: str = "ERM",
        eval_edits: Mapping[str, Any] | None = None,
    ) -> list[Cell]:
        """:meth:`FineVsCoarse.seed_cells` with one fine-label cell for all maps: the first
        map's, which also scores the others (``extra["also_maps"]``)."""
        cells = super().seed_cells(settings, conf, seed, prefix, method, eval_edits)
        fine = [c for c in cells if c.columns["label_level"] == "fine"]
        if len(fine) < 2:
            return cells
        others = list(
            zip(coarse_maps(conf)[1:], [c.columns["coarse_map"] for c in fine[1:]], strict=True)
        )
        kept = dataclasses.replace(fine[0], name=f"{prefix}erm-fine-seed{seed}")
        kept.extra["also_maps"] = others
        return [kept if c is fine[0] else c for c in cells if c not in fine[1:]]

    def collect(self, cell: Cell, settings: Settings, cli: Any, run_dir: str) -> list[Row]:
        """The run's rows, plus a fine-label run's coarse scores on the other maps."""
        rows = super().collect(cell, settings, cli, run_dir)
        evals = [cb for cb in cli.trainer.callbacks if isinstance(cb, RobustnessEval)]
        datamodule = cli.datamodule
        for spec, name in cell.extra.get("also_maps", []):
            scores = coarse_scores(
                cli.model,
                datamodule.test_dataset,
                coarse_map_tensor(datamodule, spec),
                evals[0],
                evals[0].batch_size or datamodule.eval_batch_size,
                seed=int(cell.columns["seed"]),
            )
            metrics = {f"test/{key}": value for key, value in scores.items()}
            rows += rows_from_metrics(metrics, {**cell.columns, "coarse_map": name})
        return rows

    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        """Per coarse map, each recipe's gap at ``headline_eps`` with its 95% interval."""
        conf = self.config(settings)
        return factors_figure(results, recipes(conf), conf.get("headline_eps"))

    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        conf = self.config(settings)
        return factors_summary(
            results,
            recipes(conf),
            conf.get("design", "one_at_a_time"),
            conf.get("headline_eps"),
            self.command(settings),
            settings.dataset,
        )
