"""An experiment of the paper as a grid of cells, run resumably, summarised as table + figure.

A cell is one unit of work that produces rows of ``results.csv``: for the Lightning
experiments, one ``benign fit`` run (same code path as the CLI); for the simulations, one
trial. A finished cell's rows are stored in ``<out>/cells/<cell>.csv``; :func:`gather` reads
every stored cell into ``results.csv``, the figure and the summary. ``run_experiment`` runs the
cells not stored yet in this process, then gathers, so an interrupted grid resumes where it
stopped; :mod:`benign.repro.launch` runs them in worker processes or as a SLURM job array
instead. A Lightning cell whose run directory holds a checkpoint (it was stopped or preempted
part-way) resumes from it in the same directory.
"""

from __future__ import annotations

import abc
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from benign.errors import BenignError
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
        ``<out>/runs/<cell.name>`` and hands the run directory to :meth:`collect`.

        A run directory that holds ``last.ckpt`` of a run with the same arguments (one stopped
        by a signal, preempted on a cluster or killed) is resumed (``--ckpt_path last``, same
        ``--run_name``); anything else there is a broken earlier attempt and is deleted first.
        """
        from benign.cli import BenignCLI

        run_dir = os.path.join(settings.runs_dir, cell.name)
        resume = resumable(run_dir, cell.args)
        if not resume:
            shutil.rmtree(run_dir, ignore_errors=True)
            record_run_args(run_dir, cell.args)
        cli = BenignCLI(args=fit_args(cell, settings, resume))
        location = getattr(cli, "run_location", None)
        if location is not None and os.path.abspath(location.path) != os.path.abspath(run_dir):
            # Never store another run's rows as this cell's (e.g. a fit that took the directory
            # of an earlier cell of the same SLURM job for its own).
            raise RuntimeError(
                f"cell {cell.name}: benign fit ran in {location.path}, not in its run directory "
                f"{run_dir}; its rows are not stored"
            )
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


def fit_args(cell: Cell, settings: Settings, resume: bool = False) -> list[str]:
    """The ``benign fit`` arguments of a Lightning cell: its run directory is
    ``<out>/runs/<cell.name>``; ``resume`` continues the newest checkpoint there."""
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
    return [*args, "--ckpt_path", "last"] if resume else args


def _args_record(run_dir: str) -> str:
    """Where the ``benign fit`` arguments of a cell's run are recorded: beside its run directory
    (``<out>/runs/<cell>.args.json``), not in it, which ``benign fit`` creates itself."""
    return f"{run_dir.rstrip(os.sep)}.args.json"


def record_run_args(run_dir: str, args: Sequence[str]) -> None:
    """Record the arguments a fresh run of a cell starts with (see :func:`resumable`)."""
    os.makedirs(os.path.dirname(run_dir) or ".", exist_ok=True)
    with open(_args_record(run_dir), "w") as handle:
        json.dump(list(args), handle)


def resumable(run_dir: str, args: Sequence[str]) -> bool:
    """Whether ``run_dir`` holds ``checkpoints/last.ckpt`` (what ``--ckpt_path last`` resumes)
    of a run started with these arguments: a grid rerun with other settings starts its
    unfinished cells afresh rather than mixing the two."""
    if not os.path.isfile(os.path.join(run_dir, "checkpoints", "last.ckpt")):
        return False
    try:
        with open(_args_record(run_dir)) as handle:
            return json.load(handle) == list(args)
    except (OSError, ValueError):
        return False


class CellsMissing(BenignError, RuntimeError):
    """Gathering found cells of the grid that have no stored rows."""


def grid(experiment: Experiment, settings: Settings) -> list[Cell]:
    """The experiment's cells for ``settings`` (ValueError on duplicate names)."""
    cells = experiment.cells(settings)
    names = [cell.name for cell in cells]
    if len(set(names)) != len(names):
        raise ValueError(f"{experiment.name}: duplicate cell names in the grid")
    return cells


def stored_path(settings: Settings, cell: Cell) -> str:
    """``<out>/cells/<cell>.csv``: the rows of a finished cell."""
    return os.path.join(settings.cells_dir, f"{cell.name}.csv")


def pending(cells: Sequence[Cell], settings: Settings) -> list[Cell]:
    """The cells without stored rows."""
    return [cell for cell in cells if not os.path.isfile(stored_path(settings, cell))]


def run_and_store(experiment: Experiment, cell: Cell, settings: Settings) -> list[dict[str, Any]]:
    """Run one cell and store its rows (written whole or not at all)."""
    rows = experiment.run_cell(cell, settings)
    os.makedirs(settings.cells_dir, exist_ok=True)
    write_results(rows, stored_path(settings, cell))
    return rows


def run_cells(
    experiment: Experiment, cells: Sequence[Cell], settings: Settings, progress: bool = True
) -> None:
    """Run the cells that are not stored yet, one after the other in this process."""
    os.makedirs(settings.cells_dir, exist_ok=True)
    bar = tqdm(cells, desc=f"repro {experiment.name}", unit="run", disable=not progress)
    for cell in bar:
        bar.set_postfix_str(cell.name)
        if not os.path.isfile(stored_path(settings, cell)):
            run_and_store(experiment, cell, settings)


def gather(
    experiment: Experiment, settings: Settings, cells: Sequence[Cell] | None = None
) -> pd.DataFrame:
    """Read every cell's stored rows and write ``results.csv``, ``figure.png``, ``summary.md``
    (:class:`CellsMissing` when a cell of the grid has none: nothing is written then)."""
    cells = grid(experiment, settings) if cells is None else cells
    missing = pending(cells, settings)
    if missing:
        names = ", ".join(cell.name for cell in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise CellsMissing(
            f"{len(missing)} of the {len(cells)} cells of {experiment.name} have no stored rows "
            f"in {settings.cells_dir} ({names}): run them first"
        )
    frames = [read_results(stored_path(settings, cell)) for cell in cells]
    results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    os.makedirs(settings.out, exist_ok=True)
    write_results(results.to_dict("records"), os.path.join(settings.out, "results.csv"))
    experiment.figure(results, os.path.join(settings.out, "figure.png"))
    with open(os.path.join(settings.out, "summary.md"), "w") as f:
        f.write(experiment.summary(results, settings))
    return results


def run_experiment(
    experiment: Experiment, settings: Settings, progress: bool = True
) -> pd.DataFrame:
    """Run (or resume) every cell in this process, then write ``results.csv``, ``figure.png``,
    ``summary.md``."""
    cells = grid(experiment, settings)
    run_cells(experiment, cells, settings, progress=progress)
    return gather(experiment, settings, cells)
