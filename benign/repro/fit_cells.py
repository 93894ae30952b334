"""A grid cell as a ``benign fit`` run: its command-line arguments and its ``results.csv`` columns.

A mode block of ``configs/experiments/<name>.yaml`` gives, per method, the base fit config
(``configs: {ERM: digits/erm.yaml, ...}``), extra ``benign fit`` arguments for every cell
(``args``, nested keys, e.g. ``trainer: {max_epochs: 60}``), extra arguments of one method's
cells (``method_args: {AT: {...}}``) and edits of the base config's evaluation callbacks
(``eval`` for ``RobustnessEval``, ``memorization`` for ``Memorization``). A cell is then
``benign fit --config <base> <args> --seed_everything s --data.noise_seed s`` plus its own
overrides.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from benign.errors import ConfigError
from benign.repro.base import Cell
from benign.repro.config import Settings, config_path, load_fit_config

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


def cell_options(
    conf: Mapping[str, Any], method: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The dotted ``benign fit`` options of a cell, in increasing precedence: one device,
    ``conf["args"]``, ``conf["method_args"][method]`` (e.g. the attack of AT and TRADES only),
    the cell's ``overrides``."""
    # One device a cell: grids parallelise over cells (the launchers), and an in-process DDP
    # launcher would re-run ``benign repro`` itself in every rank.
    return {
        "trainer.devices": 1,
        **flatten(conf.get("args") or {}),
        **flatten((conf.get("method_args") or {}).get(method) or {}),
        **flatten(overrides or {}),
    }


def cell_columns(
    experiment: str,
    settings: Settings,
    base: Mapping[str, Any],
    method: str,
    seed: int,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """The descriptive ``results.csv`` columns of a cell: what it trains, with which labels."""
    data = (base.get("data") or {}).get("init_args") or {}
    return {
        "experiment": experiment,
        "dataset": settings.dataset,
        "method": method,
        "backbone": backbone_name(base, options),
        "noise_rate": float(options.get("data.noise_rate", data.get("noise_rate", 0.0))),
        "noise_type": options.get("data.noise_type", data.get("noise_type", "symmetric")),
        "label_level": options.get("data.label_level", data.get("label_level", "fine")),
        "coarse_map": options.get("data.coarse_map", data.get("coarse_map")),
        "train_eps": None,
        "seed": seed,
    }


def fit_cell(
    experiment: str,
    settings: Settings,
    conf: Mapping[str, Any],
    name: str,
    method: str,
    seed: int,
    overrides: Mapping[str, Any] | None = None,
    eval_edits: Mapping[str, Any] | None = None,
    **columns: Any,
) -> Cell:
    """A cell of ``experiment`` training ``method`` (a key of ``conf["configs"]``) with
    :func:`cell_options`; ``columns`` fills descriptive columns beyond :func:`cell_columns`
    (e.g. ``train_eps``)."""
    configs = conf.get("configs") or {}
    if method not in configs:
        raise ConfigError(
            f"{experiment}: no base config for method {method!r}: add it under configs"
        )
    base_path = config_path(configs[method])
    base = base_config(base_path)
    edits = {
        "eval": {**(conf.get("eval") or {}), **(eval_edits or {})},
        "memorization": conf.get("memorization") or {},
    }
    options = cell_options(conf, method, overrides)
    args = [
        "--config",
        base_path,
        "--seed_everything",
        str(seed),
        "--data.noise_seed",
        str(seed),
        "--trainer.callbacks",
        json.dumps(edited_callbacks(base, edits)),
        "--wandb.group",
        f"repro-{experiment}-{settings.dataset}",
        *as_args(options),
    ]
    defaults = cell_columns(experiment, settings, base, method, seed, options)
    return Cell(name, {**defaults, **columns}, tuple(args), extra={"method": method})
