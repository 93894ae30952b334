"""Running a grid resumably in this process, and gathering its stored cells.

A finished cell's rows are stored in ``<out>/cells/<cell>.csv``; :func:`gather` reads every
stored cell into ``results.csv``, ``figure.png`` and ``summary.md``. :func:`run_experiment`
runs the cells not stored yet in this process, then gathers, so an interrupted grid resumes
where it stopped; :mod:`benign.repro.launch` runs them in worker processes or as a SLURM job
array instead, with the same :func:`run_and_store`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd
from tqdm.auto import tqdm

from benign.errors import BenignError
from benign.repro.base import Cell, Experiment, Row
from benign.repro.config import Settings
from benign.repro.results import COLUMNS, read_results, write_results

#: Resolution of ``figure.png``.
FIGURE_DPI = 150


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


def run_and_store(experiment: Experiment, cell: Cell, settings: Settings) -> list[Row]:
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


def stored_results(
    experiment: Experiment, settings: Settings, cells: Sequence[Cell] | None = None
) -> pd.DataFrame:
    """The rows of every cell of the grid, in grid order (:class:`CellsMissing` when a cell
    has none)."""
    cells = grid(experiment, settings) if cells is None else cells
    missing = pending(cells, settings)
    if missing:
        names = ", ".join(cell.name for cell in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise CellsMissing(
            f"{len(missing)} of the {len(cells)} cells of {experiment.name} have no stored rows "
            f"in {settings.cells_dir} ({names}): run them first"
        )
    frames = [read_results(stored_path(settings, cell)) for cell in cells]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def gather(
    experiment: Experiment, settings: Settings, cells: Sequence[Cell] | None = None
) -> pd.DataFrame:
    """Read every cell's stored rows and write ``results.csv``, ``figure.png``, ``summary.md``
    into ``settings.out`` (:class:`CellsMissing` when a cell has none: nothing is written)."""
    results = stored_results(experiment, settings, cells)
    os.makedirs(settings.out, exist_ok=True)
    write_results(results.to_dict("records"), os.path.join(settings.out, "results.csv"))
    experiment.figure(results, settings).savefig(
        os.path.join(settings.out, "figure.png"), dpi=FIGURE_DPI
    )
    with open(os.path.join(settings.out, "summary.md"), "w") as handle:
        handle.write(experiment.summary(results, settings))
    return results


def run_experiment(
    experiment: Experiment, settings: Settings, progress: bool = True
) -> pd.DataFrame:
    """Run (or resume) every cell in this process, then write ``results.csv``, ``figure.png``,
    ``summary.md``."""
    cells = grid(experiment, settings)
    run_cells(experiment, cells, settings, progress=progress)
    return gather(experiment, settings, cells)
