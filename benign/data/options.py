"""Cheap checks of DataModule options, run in ``__init__`` so mistakes stop a run before it starts.

Each check returns the cleaned value or raises :class:`~benign.errors.ConfigError` with one line
that names the option, the bad value and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benign.data.noise import NOISE_FILE_SUFFIXES, NOISE_TYPES
from benign.errors import ConfigError, DataNotFoundError

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


def check_choice(option: str, value: str, choices: Sequence[str]) -> str:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise ConfigError(
            f"unknown {option} '{value}': use one of {', '.join(choices)} (--data.{option})"
        )
    return value


def check_noise_type(noise_type: str) -> str:
    """``noise_type`` must be a known noise type."""
    return check_choice("noise_type", noise_type, NOISE_TYPES)


def check_label_level(level: str) -> str:
    """``label_level`` must be ``fine`` or ``coarse``."""
    return check_choice("label_level", level, LABEL_LEVELS)


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
