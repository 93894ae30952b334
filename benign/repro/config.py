"""The settings of a ``benign repro`` run: the experiment YAML in ``configs/experiments/``.

Each experiment file has an optional ``defaults`` block and one block per dataset with a
``quick`` (CPU-sized: digits, mnist5k, fashion_mnist) and/or ``full`` mode; the mode block is merged over the defaults.
``--set key=value`` edits the merged settings (dotted keys, YAML values), e.g.
``--set noise_rates=[0,0.4] --set args.trainer.max_epochs=2``.
"""

from __future__ import annotations

import copy
import json
import os
import shlex
from argparse import ArgumentError
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benign.errors import ConfigError
from benign.fit_config import resolved_fit_config

#: Where ``configs/`` lives: ``$BENIGN_CONFIG_DIR`` or the checkout holding this package.
CONFIG_DIR = Path(
    os.environ.get("BENIGN_CONFIG_DIR", Path(__file__).resolve().parents[2] / "configs")
)


@dataclass(frozen=True)
class Settings:
    """What the user asked for: ``benign repro <experiment> --dataset --seeds --quick --out
    --config --set``. Everything an experiment computes is a function of these."""

    dataset: str = "digits"
    seeds: int = 1
    quick: bool = False
    out: str = "repro_out"
    #: The experiment YAML (None: ``configs/experiments/<experiment>.yaml``).
    config: str | None = None
    #: ``--set key=value`` edits of it, in order.
    overrides: tuple[str, ...] = ()

    @property
    def runs_dir(self) -> str:
        return os.path.join(self.out, "runs")

    @property
    def cells_dir(self) -> str:
        return os.path.join(self.out, "cells")

    def command(self, experiment: str, with_dataset: bool = True) -> str:
        """The ``benign repro`` command line that reproduces these settings, quoted for a POSIX
        shell (``with_dataset=False`` for experiments that do not use ``--dataset``)."""
        parts = ["benign repro", experiment]
        if with_dataset:
            parts += ["--dataset", self.dataset]
        parts += ["--seeds", str(self.seeds)]
        if self.quick:
            parts.append("--quick")
        if self.config:
            parts += ["--config", shlex.quote(self.config)]
        parts += [f"--set {shlex.quote(item)}" for item in self.overrides]
        parts += ["--out", shlex.quote(self.out)]
        return " ".join(parts)


def config_path(path: str) -> str:
    """An absolute path for ``path``: as given if it exists, else under ``configs/``."""
    if os.path.isfile(path):
        return os.path.abspath(path)
    candidate = CONFIG_DIR / path
    if candidate.is_file():
        return str(candidate)
    raise ConfigError(
        f"config file {path!r} not found (looked in . and {CONFIG_DIR}): check the path"
    )


def experiment_config_path(name: str) -> str:
    """``configs/experiments/<name>.yaml``."""
    return config_path(os.path.join("experiments", f"{name}.yaml"))


def load_yaml(path: str) -> dict[str, Any]:
    """Read a YAML mapping (ConfigError when it is not one)."""
    with open(path) as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a YAML mapping, got {type(data).__name__}")
    return data


def load_fit_config(path: str) -> dict[str, Any]:
    """Read a ``benign fit`` config as the CLI reads it (:func:`benign.fit_config.resolved_fit_config`:
    layers merged, ``${...}`` interpolation resolved, defaults filled in)."""
    return resolved_fit_config(path)


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` merged into a copy of ``base``, recursively for nested mappings."""
    merged = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_overrides(config: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key=value`` edits (dotted keys into nested mappings, YAML-parsed values)."""
    config = copy.deepcopy(config)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {item!r} is not key=value: write e.g. --set noise_rates=[0,0.4]"
            )
        *parents, leaf = key.strip().split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(
                    f"--set {item!r}: {part!r} is not a mapping in the experiment settings"
                )
        node[leaf] = yaml.safe_load(text)
    return config


def experiment_settings(name: str, settings: Settings) -> dict[str, Any]:
    """The merged settings of experiment ``name`` for ``settings.dataset`` and its mode."""
    path = settings.config or experiment_config_path(name)
    document = load_yaml(config_path(path))
    datasets = [
        key for key, value in document.items() if key != "defaults" and isinstance(value, dict)
    ]
    if settings.dataset not in datasets:
        raise ConfigError(
            f"{name} has no settings for dataset {settings.dataset!r}: use --dataset with one of {', '.join(datasets)}"
        )
    mode = "quick" if settings.quick else "full"
    block = document[settings.dataset]
    if mode not in block:
        other = [d for d in datasets if mode in document[d]]
        hint = f"--dataset {' or '.join(other)}" if other else "another mode"
        raise ConfigError(
            f"{name} has no {mode} settings for {settings.dataset} (--quick is the CPU-sized run): use {hint}"
        )
    merged = deep_merge(document.get("defaults") or {}, block[mode])
    known = {
        key
        for section in [document.get("defaults") or {}]
        + [m for d in datasets for m in document[d].values() if isinstance(m, dict)]
        for key in section
    }
    check_overrides(name, settings.overrides, merged, known)
    return apply_overrides(merged, settings.overrides)


def check_overrides(
    name: str, overrides: Sequence[str], settings: Mapping[str, Any], known: set[str]
) -> None:
    """Each ``--set`` edits a setting the experiment has (any dataset or mode), with a value of
    the setting's kind (a list for a list, a number for a number); free-form blocks such as
    ``args`` (``benign fit`` options) are checked later by the fit itself."""
    for item in overrides:
        key, sep, text = item.partition("=")
        top = key.strip().split(".")[0]
        if sep and top not in known:
            raise ConfigError(
                f"--set {item!r}: {name} has no setting {top!r}: use one of "
                f"{', '.join(sorted(known))} (see configs/experiments/{name}.yaml)"
            )
        if not sep or "." in key.strip() or settings.get(top) is None:
            continue
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: {text!r} is not a YAML value") from None
        if value is not None and _kind(value) != _kind(settings[top]):
            raise ConfigError(
                f"--set {item!r}: {top} takes a {_kind(settings[top])} like "
                f"{json.dumps(settings[top])}, not {text!r}"
            )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (list, tuple)):
        return "list"
    return "mapping" if isinstance(value, Mapping) else type(value).__name__


def build_datamodule(data: Mapping[str, Any]) -> Any:
    """The data module of a ``benign fit`` config's ``data`` entry (``class_path`` and
    ``init_args``), checked and built by jsonargparse as ``benign fit`` builds it (ConfigError
    naming the problem when the entry does not validate). ``prepare_data``/``setup`` are the
    caller's."""
    from jsonargparse import ArgumentParser
    from lightning.pytorch import LightningDataModule

    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(LightningDataModule, "data", required=True)
    try:
        config = parser.parse_object({"data": dict(data)})
    except ArgumentError as err:
        raise ConfigError(f"data {data.get('class_path')!r}: {_problem(str(err))}") from None
    # ``instantiate`` replaced ``instantiate_classes`` in jsonargparse 4.49.
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    return instantiate(config).data


def _problem(message: str) -> str:
    """The lines of a jsonargparse error under ``Problem with given class_path``, on one line
    (the whole message when it has none)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "Problem with given" in line), None)
    if start is None:
        return " ".join(lines)
    problem = []
    for line in lines[start + 1 :]:
        if line.startswith("- "):
            break
        problem.append(line)
    return " ".join(problem) or lines[start]
