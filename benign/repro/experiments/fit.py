"""Experiments whose cells are ``benign fit`` runs (PAPER.md E1-E4).

A mode block of ``configs/experiments/<name>.yaml`` gives, per method, the base fit config
(``configs: {ERM: digits/erm.yaml, ...}``), extra ``benign fit`` arguments for every cell
(``args``, nested keys, e.g. ``trainer: {max_epochs: 60}``), extra arguments of one method's
cells (``method_args: {AT: {...}}``) and edits of the base config's evaluation callbacks (``eval`` for ``RobustnessEval``, ``memorization`` for ``Memorization``).
A cell is then ``benign fit --config <base> <args> --seed_everything s --data.noise_seed s``
plus its own overrides; its rows come from the run's metrics (train and test stages).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from benign.errors import ConfigError
from benign.repro.base import Cell, Experiment, Settings
from benign.repro.config import (
    ReproSettings,
    config_path,
    experiment_settings,
    load_fit_config,
)
from benign.repro.results import rows_from_metrics

#: The class names of the evaluation callbacks an experiment may edit.
EDITABLE_CALLBACKS = {"eval": "RobustnessEval", "memorization": "Memorization"}


def cli_value(value: Any) -> str:
    """A value as ``benign fit`` parses it from the command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"trainer": {"max_epochs": 2}}`` -> ``{"trainer.max_epochs": 2}`` (lists are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def as_args(options: Mapping[str, Any]) -> list[str]:
    """``--key value`` pairs for nested or dotted options."""
    args: list[str] = []
    for key, value in flatten(options).items():
        args += [f"--{key}", cli_value(value)]
    return args


@functools.lru_cache(maxsize=64)
def _read_config(path: str) -> dict[str, Any]:
    return load_fit_config(path)


def base_config(path: str) -> dict[str, Any]:
    """A base ``benign fit`` config (a fresh copy each call)."""
    return json.loads(json.dumps(_read_config(config_path(path))))


def edited_callbacks(
    config: Mapping[str, Any], edits: Mapping[str, Mapping[str, Any]]
) -> list[dict]:
    """The base config's ``trainer.callbacks`` with ``init_args`` updated per :data:`EDITABLE_CALLBACKS`."""
    callbacks = [dict(cb) for cb in (config.get("trainer") or {}).get("callbacks") or []]
    for key, updates in edits.items():
        if not updates:
            continue
        class_name = EDITABLE_CALLBACKS[key]
        matches = [cb for cb in callbacks if str(cb.get("class_path", "")).endswith(class_name)]
        if not matches:
            raise ConfigError(
                f"the base config has no {class_name} callback to apply {key!r} to: add one"
            )
        for cb in matches:
            cb["init_args"] = {**(cb.get("init_args") or {}), **updates}
    return callbacks


def backbone_name(config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> str:
    """The backbone's class name, from ``model.init_args.backbone.class_path`` of the config or,
    when they replace it, of the (flattened) ``overrides`` of a cell."""
    for key in ("model.init_args.backbone.class_path", "model.backbone.class_path"):
        if (overrides or {}).get(key):
            return str(overrides[key]).rsplit(".", 1)[-1]
    backbone = (config.get("model") or {}).get("init_args", {}).get("backbone") or {}
    return str(backbone.get("class_path", "")).rsplit(".", 1)[-1]


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


#: Training metrics whose bare names would collide with the test ones in ``results.csv``.
TRAIN_RENAMES = {"acc": "train_acc", "loss": "train_loss"}


def metric_rows(metrics: Mapping[str, float], columns: Mapping[str, Any]) -> list[dict[str, Any]]:
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


def _tag_wandb_run(columns: Mapping[str, Any]) -> None:
    """Store the cell's descriptive columns in its wandb run's config (key ``repro``), so
    :func:`benign.repro.wandb_results.results_from_wandb` can rebuild ``results.csv``."""
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.run.config.update({"repro": dict(columns)}, allow_val_change=True)


def _finish_wandb() -> None:
    """Close the cell's wandb run: in one process the next cell would otherwise log into it."""
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


class FitExperiment(Experiment):
    """An experiment whose cells train with ``benign fit`` (same code path as the CLI)."""

    datasets = ("digits", "mnist", "cifar10", "cifar100", "fashion_mnist", "mnist5k")

    def config(self, settings: Settings) -> dict[str, Any]:
        """The merged experiment settings (``configs/experiments/<name>.yaml``)."""
        return experiment_settings(self.name, settings)

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
        """A cell training ``method`` (a key of ``conf["configs"]``) with ``overrides``.

        Its ``benign fit`` arguments are, in increasing precedence, ``conf["args"]``,
        ``conf["method_args"][method]`` (e.g. the attack of AT and TRADES only) and ``overrides``.

        ``columns`` fills the descriptive columns of ``results.csv`` beyond the defaults
        (noise_rate, noise_type, label_level, coarse_map, train_eps).
        """
        configs = conf.get("configs") or {}
        if method not in configs:
            raise ConfigError(
                f"{self.name}: no base config for method {method!r}: add it under configs"
            )
        base_path = config_path(configs[method])
        base = base_config(base_path)
        callbacks = edited_callbacks(
            base,
            {
                "eval": {**(conf.get("eval") or {}), **(eval_edits or {})},
                "memorization": conf.get("memorization") or {},
            },
        )
        data = (base.get("data") or {}).get("init_args") or {}
        # One device a cell: grids parallelise over cells (``--shard``), and an in-process DDP
        # launcher would re-run ``benign repro`` itself in every rank.
        merged = {
            "trainer.devices": 1,
            **flatten(conf.get("args") or {}),
            **flatten((conf.get("method_args") or {}).get(method) or {}),
            **flatten(overrides or {}),
        }
        defaults = {
            "experiment": self.name,
            "dataset": settings.dataset,
            "method": method,
            "backbone": backbone_name(base, merged),
            "noise_rate": float(merged.get("data.noise_rate", data.get("noise_rate", 0.0))),
            "noise_type": merged.get("data.noise_type", data.get("noise_type", "symmetric")),
            "label_level": merged.get("data.label_level", data.get("label_level", "fine")),
            "coarse_map": merged.get("data.coarse_map", data.get("coarse_map")),
            "train_eps": None,
            "seed": seed,
        }
        args = [
            "--config",
            base_path,
            "--seed_everything",
            str(seed),
            "--data.noise_seed",
            str(seed),
            "--trainer.callbacks",
            json.dumps(callbacks),
            "--wandb.group",
            f"repro-{self.name}-{settings.dataset}",
            *as_args(merged),
        ]
        return Cell(
            name=name, columns={**defaults, **columns}, args=tuple(args), extra={"method": method}
        )

    def run_cell(self, cell: Cell, settings: Settings) -> list[dict[str, Any]]:
        """Train the cell (see :meth:`Experiment.run_cell`); its console output goes to
        ``<out>/logs/<cell>.log``."""
        with cell_log(os.path.join(settings.out, "logs", f"{cell.name}.log")):
            try:
                rows = super().run_cell(cell, settings)
                _tag_wandb_run(cell.columns)
                return rows
            finally:
                _finish_wandb()

    def collect(
        self, cell: Cell, settings: Settings, cli: Any, run_dir: str
    ) -> list[dict[str, Any]]:
        """Rows of the train and test metrics of the finished run (see :func:`metric_rows`)."""
        return metric_rows(run_metrics(cli, run_dir), cell.columns)

    def command(self, settings: Settings) -> str:
        """The command line that reproduces ``settings`` (for ``summary.md``)."""
        if isinstance(settings, ReproSettings):
            return settings.command(self.name)
        quick = " --quick" if settings.quick else ""
        return f"benign repro {self.name} --dataset {settings.dataset} --seeds {settings.seeds}{quick} --out {settings.out}"
