"""Training a ``benign fit`` cell resumably and reading its metrics back.

The run lives in ``<out>/runs/<cell>`` (the same code path as ``benign fit``). A run directory
that holds ``last.ckpt`` of a run with the same arguments (stopped by a signal, preempted on a
cluster, killed) is resumed (``--ckpt_path last``, same ``--run_name``); anything else there is
a broken earlier attempt and is deleted first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

from benign.repro.base import Cell, Row
from benign.repro.config import Settings
from benign.repro.results import rows_from_metrics

#: Training metrics whose bare names would collide with the test ones in ``results.csv``.
TRAIN_RENAMES = {"acc": "train_acc", "loss": "train_loss"}


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


def train(cell: Cell, settings: Settings) -> tuple[Any, str]:
    """Run ``benign fit`` for ``cell`` in ``<out>/runs/<cell.name>`` (resumed when
    :func:`resumable`): ``(the finished BenignCLI, its run directory)``."""
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
    return cli, run_dir


def run_metrics(cli: Any, run_dir: str) -> dict[str, float]:
    """Final metrics of a finished run: the last value of each ``metrics.csv`` column, then the
    trainer's ``callback_metrics`` and the evaluation callbacks' ``results`` (most recent)."""
    metrics: dict[str, float] = {}
    path = os.path.join(run_dir, "metrics.csv")
    if os.path.isfile(path):
        log = pd.read_csv(path)
        for column in log.columns:
            values = log[column].dropna()
            if len(values):
                metrics[column] = float(values.iloc[-1])
    metrics.update({k: float(v) for k, v in cli.trainer.callback_metrics.items()})
    for callback in cli.trainer.callbacks:
        metrics.update({k: float(v) for k, v in (getattr(callback, "results", None) or {}).items()})
    return {k: v for k, v in metrics.items() if math.isfinite(v)}


def metric_rows(metrics: Mapping[str, float], columns: Mapping[str, Any]) -> list[Row]:
    """``results.csv`` rows of a run's train and test metrics; ``train/acc`` and ``train/loss``
    become ``train_acc`` / ``train_loss`` so that ``acc`` is always the test accuracy."""
    rows = rows_from_metrics(metrics, columns, stages=("test",))
    for row in rows_from_metrics(metrics, columns, stages=("train",)):
        row["metric"] = TRAIN_RENAMES.get(row["metric"], row["metric"])
        rows.append(row)
    return rows


@contextlib.contextmanager
def cell_log(path: str) -> Iterator[None]:
    """Send a cell's console output (Lightning's info lines, tables, warnings) to ``path``,
    so the grid's progress bar stays readable; the log stays for inspection."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    loggers = [
        logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "benign")
    ]
    levels = [logger.level for logger in loggers]
    with (
        open(path, "w") as handle,
        contextlib.redirect_stdout(handle),
        contextlib.redirect_stderr(handle),
    ):
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


@contextlib.contextmanager
def wandb_cell(columns: Mapping[str, Any]) -> Iterator[None]:
    """Around one cell's fit: on success, store the cell's descriptive columns in its wandb
    run's config (key ``repro``, read back by
    :func:`benign.repro.wandb_results.results_from_wandb`); always close the run after, or
    the next cell of this process would log into it."""
    try:
        yield
        run = _wandb_run()
        if run is not None:
            run.config.update({"repro": dict(columns)}, allow_val_change=True)
    finally:
        if _wandb_run() is not None:
            sys.modules["wandb"].finish()


def _wandb_run() -> Any:
    """The open wandb run, if wandb is imported and has one."""
    wandb = sys.modules.get("wandb")
    return getattr(wandb, "run", None) if wandb is not None else None
