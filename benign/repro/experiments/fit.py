"""Experiments whose cells are ``benign fit`` runs (PAPER.md E1-E4, and E6's probe).

A subclass describes its grid with :meth:`FitExperiment.fit_cell` (see
:mod:`benign.repro.fit_cells` for the settings it reads) and, when it measures more than the
run's own metrics, overrides :meth:`FitExperiment.collect`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from benign.repro.base import Cell, Experiment, Row
from benign.repro.config import Settings
from benign.repro.fit_cells import fit_cell
from benign.repro.fit_runs import cell_log, metric_rows, run_metrics, train, wandb_cell


class FitExperiment(Experiment):
    """An experiment whose cells train with ``benign fit`` (same code path as the CLI)."""

    datasets = ("digits", "mnist", "cifar10", "cifar100", "fashion_mnist", "mnist5k")

    def fit_cell(
        self,
        settings: Settings,
        conf: Mapping[str, Any],
        name: str,
        method: str,
        seed: int,
        overrides: Mapping[str, Any] | None = None,
        eval_edits: Mapping[str, Any] | None = None,
        **columns: Any,
    ) -> Cell:
        """A cell training ``method`` with ``overrides`` (:func:`benign.repro.fit_cells.fit_cell`)."""
        return fit_cell(
            self.name, settings, conf, name, method, seed, overrides, eval_edits, **columns
        )

    def run_cell(self, cell: Cell, settings: Settings) -> list[Row]:
        """Train the cell (:func:`benign.repro.fit_runs.train`, resumed from its checkpoint when
        it was stopped) and :meth:`collect` its rows; its console output goes to
        ``<out>/logs/<cell>.log``. Cells without ``args`` are :meth:`compute` d instead."""
        if not cell.args:
            return self.compute(cell, settings)
        with cell_log(os.path.join(settings.out, "logs", f"{cell.name}.log")):
            with wandb_cell(cell.columns):
                cli, run_dir = train(cell, settings)
                return self.collect(cell, settings, cli, run_dir)

    def collect(self, cell: Cell, settings: Settings, cli: Any, run_dir: str) -> list[Row]:
        """Rows of a finished run: its train and test metrics
        (:func:`benign.repro.fit_runs.metric_rows`)."""
        return metric_rows(run_metrics(cli, run_dir), cell.columns)

    def compute(self, cell: Cell, settings: Settings) -> list[Row]:
        """Rows of a cell that trains no ``benign fit`` run (e.g. a baseline or a simulation)."""
        raise NotImplementedError(f"{self.name}: cell {cell.name} has no benign fit arguments")
