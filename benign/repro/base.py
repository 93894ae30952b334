"""An experiment of the paper as a plain description: settings in, cells out; results in,
tables and a figure out.

An :class:`Experiment` keeps nothing between calls: :meth:`~Experiment.cells` turns the user's
:class:`~benign.repro.config.Settings` into a grid of :class:`Cell` s, :meth:`~Experiment.run_cell`
computes one cell's rows from the cell and the settings alone, and :meth:`~Experiment.figure`
and :meth:`~Experiment.summary` turn the rows of ``results.csv`` (and the same settings) into
the figure and the Markdown. Whatever a cell needs at run time travels in the cell itself
(picklable), so any process can run any cell.

Running, sharding, launching and gathering the cells are the runner's
(:mod:`benign.repro.runner`, :mod:`benign.repro.launch`), not the experiment's.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from benign.repro.config import Settings, experiment_settings

#: One row of ``results.csv`` (:func:`benign.repro.results.make_row`).
Row = dict[str, Any]


@dataclass(frozen=True)
class Cell:
    """One unit of an experiment's grid.

    Attributes:
        name: unique within the experiment; names the run directory and the stored rows.
        columns: the descriptive columns of ``results.csv`` for this cell (dataset, method...).
        args: for Lightning cells, the ``benign fit`` arguments (without ``fit``); empty for
            cells an experiment computes itself.
        extra: anything else the experiment needs to run or collect the cell.
    """

    name: str
    columns: dict[str, Any]
    args: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class Experiment(abc.ABC):
    """One of ``label-noise``, ``memorization``, ``fine-vs-coarse``, ``mislabelled``,
    ``theorem1``, ``representation`` (PAPER.md E1-E6); see the module docstring."""

    name: str = ""
    #: Datasets the experiment supports (``--dataset``).
    datasets: Sequence[str] = ("digits",)
    #: Whether ``--dataset`` means anything to it (the command line in ``summary.md`` says so).
    uses_dataset: bool = True

    def config(self, settings: Settings) -> dict[str, Any]:
        """The merged experiment settings: ``configs/experiments/<name>.yaml`` (or
        ``--config``) for ``settings.dataset`` and mode, edited by ``--set``."""
        return experiment_settings(self.name, settings)

    def command(self, settings: Settings) -> str:
        """The ``benign repro`` command line that reproduces ``settings`` (for ``summary.md``)."""
        return settings.command(self.name, with_dataset=self.uses_dataset)

    @abc.abstractmethod
    def cells(self, settings: Settings) -> list[Cell]:
        """The grid for these settings."""

    @abc.abstractmethod
    def run_cell(self, cell: Cell, settings: Settings) -> list[Row]:
        """Compute one cell's rows (:class:`benign.repro.experiments.fit.FitExperiment`
        trains ``benign fit`` runs)."""

    @abc.abstractmethod
    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        """The figure of the results table (``figure.png``)."""

    @abc.abstractmethod
    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        """The Markdown of ``summary.md`` (tables, the command that made them)."""
