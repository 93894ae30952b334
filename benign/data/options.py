"""Cheap checks of DataModule options, run in ``__init__`` so mistakes stop a run before it starts.

Each check returns the cleaned value or raises :class:`~benign.errors.ConfigError` with one line
that names the option, the bad value and the fix. :func:`check_label_options` and
:func:`check_split_options` check a group of options and return it as a specification.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from benign.data.coarse import resolve_coarse_map
from benign.data.noise import NOISE_FILE_SUFFIXES, NOISE_TYPES
from benign.data.spec import LabelSpec, SplitSpec
from benign.errors import ConfigError, DataNotFoundError, check_choice

LABEL_LEVELS: tuple[str, ...] = ("fine", "coarse")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_noise_rate(rate: float) -> float:
    """``noise_rate`` must be a number in [0, 1)."""
    if not _is_number(rate) or not 0.0 <= rate < 1.0:
        raise ConfigError(
            f"noise_rate must be in [0, 1), got {rate!r}: pass a fraction such as --data.noise_rate 0.2"
        )
    return float(rate)


def check_noise_type(noise_type: str) -> str:
    """``noise_type`` must be a known noise type."""
    return check_choice("noise_type", noise_type, NOISE_TYPES, fix=" (--data.noise_type)")


def check_label_level(level: str) -> str:
    """``label_level`` must be ``fine`` or ``coarse``."""
    return check_choice("label_level", level, LABEL_LEVELS, fix=" (--data.label_level)")


def check_noise_classes(classes: Sequence[int] | None, num_classes: int) -> list[int]:
    """Source classes of ``class_subset`` noise; ``None`` means the first half of the classes."""
    if classes is None:
        return list(range(max(1, num_classes // 2)))
    values = list(classes)
    if (
        not values
        or any(isinstance(c, bool) or not isinstance(c, int) for c in values)
        or any(not 0 <= c < num_classes for c in values)
        or len(set(values)) != len(values)
    ):
        raise ConfigError(
            f"noise_classes must be distinct class indices in 0..{num_classes - 1}, got {values}: "
            "pass e.g. --data.noise_classes [0,1,2]"
        )
    return values


def check_noise_file(path: str | None) -> str | None:
    """``noise_file`` must name an existing ``.npy``, ``.npz`` or ``.csv`` file."""
    if path is None:
        return None
    if Path(path).suffix not in NOISE_FILE_SUFFIXES:
        raise ConfigError(
            f"noise_file {path} has an unknown suffix: use a {', '.join(NOISE_FILE_SUFFIXES)} file "
            "of observed training labels"
        )
    if not Path(path).is_file():
        raise DataNotFoundError(
            f"noise_file {path} not found: pass the path of an existing label file"
        )
    return str(path)


def check_fraction_or_count(
    option: str, value: int | float | None, *, allow_none: bool, allow_all: bool
) -> int | float | None:
    """A count (int >= 1) or a fraction (float in (0, 1), or (0, 1] when ``allow_all``)."""
    if value is None and allow_none:
        return None
    # The command line parses "200" for an ``int | float`` option as 200.0: a whole number
    # above 1 can only mean a count.
    if isinstance(value, float) and value > 1 and value.is_integer():
        value = int(value)
    upper = "1]" if allow_all else "1)"
    ok = _is_number(value) and (
        (isinstance(value, int) and value >= 1)
        or (isinstance(value, float) and 0.0 < value < 1.0)
        or (isinstance(value, float) and allow_all and value == 1.0)
    )
    if not ok:
        raise ConfigError(
            f"{option} must be a count >= 1 or a fraction in (0, {upper}, got {value!r}: pass e.g. "
            f"--data.{option} 0.1"
        )
    return value


def check_positive_int(option: str, value: int, *, minimum: int = 1) -> int:
    """An integer option with a lower bound (batch sizes, worker counts)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{option} must be an integer >= {minimum}, got {value!r} (--data.{option})"
        )
    return value


class ClassFacts(Protocol):
    """What a dataset declares about its classes (the class attributes of a DataModule)."""

    name: str
    fine_classes: tuple[str, ...]
    coarse_map_presets: Mapping[str, Sequence[int]]
    coarse_class_names_presets: Mapping[str, Sequence[str]]
    default_coarse_map: str
    asymmetric_pairs: Mapping[int, int] | None


def check_label_options(
    dataset: ClassFacts,
    *,
    noise_rate: float,
    noise_type: str,
    noise_seed: int | None,
    noise_classes: Sequence[int] | None,
    noise_file: str | None,
    label_level: str,
    coarse_map: str | Sequence[int] | None,
) -> LabelSpec:
    """Check the user's label options against ``dataset``'s classes, as a :class:`LabelSpec`."""
    rate, kind = check_noise_rate(noise_rate), check_noise_type(noise_type)
    seed = 0 if noise_seed is None else int(noise_seed)
    level = check_label_level(label_level)
    fine_names = tuple(dataset.fine_classes)
    mapping, names, map_name = resolve_coarse_map(
        coarse_map,
        presets=dataset.coarse_map_presets,
        preset_names=dataset.coarse_class_names_presets,
        default=dataset.default_coarse_map,
        fine_names=fine_names,
        dataset=dataset.name,
    )
    num_classes = len(fine_names) if level == "fine" else len(names)
    classes = check_noise_classes(noise_classes, num_classes)
    path = check_noise_file(noise_file)
    if path is not None and rate > 0:
        # stacklevel 3: the line that built the DataModule
        warnings.warn("noise_file is set, so noise_rate and noise_type are ignored", stacklevel=3)
    pairs = dataset.asymmetric_pairs
    return LabelSpec(
        dataset=dataset.name,
        fine_names=fine_names,
        label_level=level,
        coarse_map=tuple(int(c) for c in mapping),
        coarse_names=tuple(names),
        coarse_map_name=map_name,
        noise_rate=rate,
        noise_type=kind,
        noise_seed=seed,
        noise_classes=tuple(classes),
        noise_file=path,
        asymmetric_pairs=None if pairs is None else tuple(pairs.items()),
    )


def check_split_options(
    val_split: int | float, train_subset: int | float | None, split_seed: int
) -> SplitSpec:
    """Check the options of the validation hold-out and the training subset."""
    subset = check_fraction_or_count("train_subset", train_subset, allow_none=True, allow_all=True)
    val = check_fraction_or_count("val_split", val_split, allow_none=False, allow_all=False)
    assert val is not None
    return SplitSpec(val_split=val, train_subset=subset, split_seed=int(split_seed))


def check_split_folds(dataset: Any, num_folds: int | None, holdout_fold: int | None) -> SplitSpec:
    """The ``split_spec`` of ``dataset`` with the cross-fitting fold options, checked; and its
    sizes checked against the dataset's ``train_size`` when that is known before loading."""
    spec, train_size = dataset.split_spec, dataset.train_size
    if (num_folds is None) != (holdout_fold is None):
        raise ConfigError(
            "give both --data.num_folds and --data.holdout_fold (a fold hold-out) or neither"
        )
    if num_folds is not None and holdout_fold is not None:
        if isinstance(num_folds, bool) or not isinstance(num_folds, int) or num_folds < 2:
            raise ConfigError(f"num_folds must be an integer >= 2, got {num_folds!r}")
        if not isinstance(holdout_fold, int) or not 0 <= holdout_fold < num_folds:
            raise ConfigError(
                f"holdout_fold must be one of 0..{num_folds - 1} (num_folds {num_folds}), "
                f"got {holdout_fold!r}"
            )
        spec = dataclasses.replace(spec, num_folds=num_folds, holdout_fold=holdout_fold)
    if train_size is not None:
        spec.sizes(train_size)
    return spec


def check_loader_options(
    batch_size: int, eval_batch_size: int | None, num_workers: int
) -> tuple[int, int, int]:
    """Check the DataLoader options: ``(batch_size, eval_batch_size, num_workers)``."""
    batch = check_positive_int("batch_size", batch_size)
    eval_batch = check_positive_int(
        "eval_batch_size", batch_size if eval_batch_size is None else eval_batch_size
    )
    return batch, eval_batch, check_positive_int("num_workers", num_workers, minimum=0)
