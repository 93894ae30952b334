"""Training recipes of a factor grid: which levels of which factors each recipe combines.

An experiment that asks *what a result depends on* (capacity, optimiser, data size...) trains
the same comparison under several recipes. The settings name the factors and, per level, the
``benign fit`` arguments that level adds (nested like an experiment's ``args``)::

    factors:
      width:     {w8: {}, w32: {model: {init_args: {backbone: {...}}}}}
      optimizer: {sgd: {}, adam: {model: {init_args: {optimizer: {...}}}}}
      train_size: {n1000: {data: {train_subset: 1000}}, n4000: {...}}
    design: one_at_a_time          # or full
    base: {width: w8, optimizer: sgd, train_size: n1000}

``full`` crosses every level of every factor; ``one_at_a_time`` is the fractional design that
keeps the ``base`` recipe and changes one factor at a time away from it (1 + sum of (levels - 1)
recipes): it separates each factor's main effect from the base, not their interactions.

A recipe is named in ``results.csv`` by its tag, ``ERM[width=w32,optimizer=sgd,train_size=n1000]``
(the method column: the descriptive columns are fixed by INTERFACE.md), read back by
:func:`parse_tag`.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benign.errors import ConfigError

DESIGNS = ("one_at_a_time", "full")
_TAG = re.compile(r"^(?P<method>[^\[]+)\[(?P<levels>[^\]]*)\]$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Recipe:
    """One combination of factor levels and the ``benign fit`` arguments it adds."""

    levels: dict[str, str]
    args: dict[str, Any]

    def tag(self, method: str) -> str:
        """``method`` with the levels: ``ERM[width=w8,optimizer=sgd]`` (factor order kept)."""
        return method + "[" + ",".join(f"{k}={v}" for k, v in self.levels.items()) + "]"

    @property
    def slug(self) -> str:
        """The levels as part of a cell name: ``w8-sgd-n1000``."""
        return "-".join(self.levels.values())


def parse_tag(tag: str) -> tuple[str, dict[str, str]]:
    """``"ERM[width=w8,optimizer=sgd]"`` -> ``("ERM", {"width": "w8", "optimizer": "sgd"})``;
    a plain method name has no levels."""
    match = _TAG.match(str(tag))
    if match is None:
        return str(tag), {}
    pairs = [item.split("=", 1) for item in match.group("levels").split(",") if item]
    return match.group("method"), {key: value for key, value in pairs}


def recipes(conf: Mapping[str, Any]) -> list[Recipe]:
    """The recipes of the settings' ``factors`` / ``design`` / ``base`` (one recipe, no
    levels, when there are no factors). The base recipe comes first."""
    factors = conf.get("factors")
    if not factors:
        return [Recipe({}, {})]
    factors = _checked_factors(factors)
    design = conf.get("design", "one_at_a_time")
    if design not in DESIGNS:
        raise ConfigError(
            f"design must be one of {', '.join(DESIGNS)}, got {design!r}: set e.g. design: full"
        )
    base = _checked_base(conf.get("base"), factors)
    if design == "full":
        combos = [dict(zip(factors, c, strict=True)) for c in itertools.product(*factors.values())]
        combos.sort(key=lambda levels: levels != base)
    else:
        combos = [base]
        for factor, levels in factors.items():
            combos += [{**base, factor: level} for level in levels if level != base[factor]]
    return [Recipe(levels, _recipe_args(factors, levels)) for levels in combos]


def merge_args(args: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` merged into a copy of ``args`` (nested ``benign fit`` options); a mapping
    with a ``class_path`` replaces what it lands on whole (a new backbone or optimiser keeps
    none of the old one's ``init_args``)."""
    merged = copy.deepcopy(dict(args))
    for key, value in update.items():
        old = merged.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping) and "class_path" not in value:
            merged[key] = merge_args(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _recipe_args(factors: Mapping[str, Mapping[str, Any]], levels: Mapping[str, str]) -> dict:
    args: dict[str, Any] = {}
    for factor, level in levels.items():
        args = merge_args(args, factors[factor][level] or {})
    return args


def _checked_factors(factors: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(factors, Mapping):
        raise ConfigError(
            f"factors must map each factor to its levels, got {factors!r}: "
            "e.g. factors: {optimizer: {sgd: {}, adam: {...}}}"
        )
    checked: dict[str, dict[str, Any]] = {}
    for factor, levels in factors.items():
        if not isinstance(levels, Mapping) or not levels:
            raise ConfigError(
                f"factor {factor!r} must map each level name to its benign fit arguments, "
                f"got {levels!r}"
            )
        for level, args in levels.items():
            if not _NAME.match(str(level)) or not _NAME.match(str(factor)):
                raise ConfigError(
                    f"factor {factor!r} level {level!r}: names may hold only letters, digits, "
                    "'_', '-' and '.'"
                )
            if args is not None and not isinstance(args, Mapping):
                raise ConfigError(
                    f"factor {factor!r} level {level!r}: its arguments must be a mapping "
                    f"(nested benign fit options, {{}} for none), got {args!r}"
                )
        checked[str(factor)] = {str(level): args for level, args in levels.items()}
    return checked


def _checked_base(base: Any, factors: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The base recipe; a factor it does not name takes its first level."""
    base = dict(base or {})
    unknown = sorted(set(base) - set(factors))
    if unknown:
        raise ConfigError(f"base names unknown factors {unknown}: use {', '.join(factors)}")
    chosen = {}
    for factor, levels in factors.items():
        level = str(base.get(factor, next(iter(levels))))
        if level not in levels:
            raise ConfigError(
                f"base {factor}={level!r} is not one of its levels: use {', '.join(levels)}"
            )
        chosen[factor] = level
    return chosen
