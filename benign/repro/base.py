"""An experiment of the paper as a grid of cells, run resumably, summarised as table + figure.

A cell is one unit of work that produces rows of ``results.csv``: for the Lightning
experiments, one ``benign fit`` run (same code path as the CLI); for the simulations, one
trial. ``run_experiment`` skips cells that finished earlier (their rows are stored in
``<out>/cells/<cell>.csv``) and redoes broken ones, so an interrupted grid resumes where it
stopped.
"""

from __future__ import annotations

import abc
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from benign.repro.results import COLUMNS, read_results, write_results


@dataclass(frozen=True)
class Cell:
    """One unit of an experiment's grid.

    Attributes:
        name: unique within the experiment; names the run directory and the stored rows.
        columns: the descriptive columns of ``results.csv`` for this cell (dataset, method...).
        args: for Lightning cells, the ``benign fit`` arguments (without ``fit``); empty for
            cells an experiment computes itself (:meth:`Experiment.run_cell`).
        extra: anything else the experiment needs to run or collect the cell.
    """

    name: str
    columns: dict[str, Any]
    args: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """What the user asked for: ``benign repro <experiment> --dataset --seeds --quick --out``."""

    dataset: str = "digits"
    seeds: int = 1
    quick: bool = False
    out: str = "repro_out"

    @property
    def runs_dir(self) -> str:
        return os.path.join(self.out, "runs")

    @property
    def cells_dir(self) -> str:
        return os.path.join(self.out, "cells")


class Experiment(abc.ABC):
    """One of ``label-noise``, ``memorization``, ``fine-vs-coarse``, ``mislabelled``,
    ``theorem1``, ``representation`` (PAPER.md E1-E6)."""

    name: str = ""
    #: Datasets the experiment supports (``--dataset``).
    datasets: Sequence[str] = ("digits",)

    @abc.abstractmethod
    def cells(self, settings: Settings) -> list[Cell]:
        """The grid for these settings."""

    def run_cell(self, cell: Cell, settings: Settings) -> list[dict[str, Any]]:
        """Compute one cell's rows. The default trains ``benign fit`` with ``cell.args`` in
        ``<out>/runs/<cell.name>`` and hands the run directory to :meth:`collect`."""
        from benign.cli import BenignCLI

        run_dir = os.path.join(settings.runs_dir, cell.name)
        shutil.rmtree(run_dir, ignore_errors=True)  # a broken earlier attempt
        args = [
            "fit",
            *cell.args,
            "--trainer.default_root_dir",
            settings.runs_dir,
            "--run_name",
            cell.name,
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.enable_model_summary",
            "false",
        ]
        cli = BenignCLI(args=args)
        return self.collect(cell, settings, cli, run_dir)

    def collect(
        self, cell: Cell, settings: Settings, cli: Any, run_dir: str
    ) -> list[dict[str, Any]]:
        """Rows of a finished Lightning cell (override for Lightning experiments)."""
        raise NotImplementedError(f"{self.name} computes its cells itself")

    @abc.abstractmethod
    def figure(self, results: pd.DataFrame, path: str) -> None:
        """Draw ``figure.png`` from the results table."""

    @abc.abstractmethod
    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        """The Markdown of ``summary.md`` (tables, the commands that made them)."""


def run_experiment(
    experiment: Experiment, settings: Settings, progress: bool = True
) -> pd.DataFrame:
    """Run (or resume) every cell, then write ``results.csv``, ``figure.png``, ``summary.md``."""
    os.makedirs(settings.cells_dir, exist_ok=True)
    cells = experiment.cells(settings)
    names = [cell.name for cell in cells]
    if len(set(names)) != len(names):
        raise ValueError(f"{experiment.name}: duplicate cell names in the grid")
    frames = []
    bar = tqdm(cells, desc=f"repro {experiment.name}", unit="run", disable=not progress)
    for cell in bar:
        bar.set_postfix_str(cell.name)
        stored = os.path.join(settings.cells_dir, f"{cell.name}.csv")
        if not os.path.isfile(stored):
            write_results(experiment.run_cell(cell, settings), stored)
        frames.append(read_results(stored))
    results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    write_results(results.to_dict("records"), os.path.join(settings.out, "results.csv"))
    experiment.figure(results, os.path.join(settings.out, "figure.png"))
    with open(os.path.join(settings.out, "summary.md"), "w") as f:
        f.write(experiment.summary(results, settings))
    return results
