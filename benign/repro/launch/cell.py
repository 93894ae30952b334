"""One cell of a grid, run by a plain function of explicit, picklable arguments.

Launchers send ``run_cell(experiment_name, settings, cell)`` to another process (a worker of
the local pool, a SLURM array task); it builds a fresh experiment from the registry, runs the
cell and stores its rows, keeping nothing between calls.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator

from lightning.pytorch.utilities.exceptions import SIGTERMException

from benign.repro.base import Cell, Experiment, Row
from benign.repro.config import Settings
from benign.repro.registry import EXPERIMENTS, get_experiment
from benign.repro.results import read_results
from benign.repro.runner import run_and_store, stored_path


@contextlib.contextmanager
def plain_argv() -> Iterator[None]:
    """Cells run LightningCLI in-process with explicit args: hide ``repro ...`` from it."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


#: Exit status of a cell stopped by SIGTERM/SIGUSR1 after saving its checkpoint (as benign fit's).
STOPPED_STATUS = 143


@contextlib.contextmanager
def stopped_as_exit_status() -> Iterator[None]:
    """A fit stopped by a signal raises Lightning's ``SIGTERMException``, a ``SystemExit``
    without a status (so a process would exit with 0): make it ``SystemExit(143)``."""
    try:
        yield
    except SIGTERMException:
        raise SystemExit(STOPPED_STATUS) from None


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads`` when ``threads`` is given."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def experiment_named(name: str) -> Experiment:
    """A fresh experiment: a registry name (``label-noise``, ...) or a ``module:Class`` path."""
    if name in EXPERIMENTS or ":" not in name:
        return get_experiment(name)
    module, _, class_name = name.partition(":")
    return getattr(importlib.import_module(module), class_name)()


def run_cell(
    experiment: str, settings: Settings, cell: Cell, threads: int | None = None
) -> list[Row]:
    """Run ``cell`` of the experiment named ``experiment`` (:func:`experiment_named`) and
    store its rows in ``<out>/cells/<cell>.csv``; a cell stored already is only read back (a requeued array task
    that finished before it was stopped). A fit stopped by a signal (its checkpoint saved)
    raises ``SystemExit(143)``."""
    path = stored_path(settings, cell)
    if os.path.isfile(path):
        return read_results(path).to_dict("records")
    set_threads(threads)
    with plain_argv(), stopped_as_exit_status():
        return run_and_store(experiment_named(experiment), cell, settings)
