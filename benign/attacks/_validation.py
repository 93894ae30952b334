"""Argument checks shared by every attack.

Attacks are declared in YAML (``class_path`` / ``init_args``) long before they run, so a bad value
must fail at construction with one line that names the argument, the value and the fix.
"""

from __future__ import annotations

import math
import numbers

from benign.errors import ConfigError

NORMS = ("linf", "l2")
LOSSES = ("ce", "cw")
#: Losses of APGD (Croce & Hein 2020): cross-entropy, the CW margin, and their DLR ratio.
APGD_LOSSES = ("ce", "cw", "dlr")
MODEL_MODES = ("eval", "train")


def _where(owner: str, name: str) -> str:
    return f"set init_args.{name} of {owner}"


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_eps(owner: str, eps: object) -> float:
    """Return ``eps`` as a float; it must be finite and >= 0 (pixel units of inputs in [0, 1])."""
    if not _is_real(eps) or not math.isfinite(float(eps)) or float(eps) < 0:
        raise ConfigError(
            f"{owner} eps must be a finite number >= 0, got {eps!r}: "
            f"{_where(owner, 'eps')} to a radius in pixel units, e.g. 0.3 for MNIST or 8/255 for CIFAR"
        )
    return float(eps)


def check_steps(owner: str, steps: object) -> int:
    """Return ``steps`` as an int >= 1."""
    if not isinstance(steps, numbers.Integral) or isinstance(steps, bool) or int(steps) < 1:
        raise ConfigError(
            f"{owner} steps must be an integer >= 1, got {steps!r}: "
            f"{_where(owner, 'steps')} to a positive integer"
        )
    return int(steps)


def check_restarts(owner: str, restarts: object) -> int:
    """Return ``restarts`` as an int >= 1."""
    if (
        not isinstance(restarts, numbers.Integral)
        or isinstance(restarts, bool)
        or int(restarts) < 1
    ):
        raise ConfigError(
            f"{owner} restarts must be an integer >= 1, got {restarts!r}: "
            f"{_where(owner, 'restarts')} to 1 (no restart) or more"
        )
    return int(restarts)


def check_step_size(owner: str, step_size: object) -> float | None:
    """Return ``step_size`` as a float > 0, or None (the attack's default)."""
    if step_size is None:
        return None
    if not _is_real(step_size) or not math.isfinite(float(step_size)) or float(step_size) <= 0:
        raise ConfigError(
            f"{owner} step_size must be a finite number > 0, got {step_size!r}: "
            f"{_where(owner, 'step_size')} to a positive number, or leave it empty for the default"
        )
    return float(step_size)


def check_nonnegative(owner: str, name: str, value: object) -> float:
    """Return ``value`` as a finite float >= 0."""
    if not _is_real(value) or not math.isfinite(float(value)) or float(value) < 0:
        raise ConfigError(
            f"{owner} {name} must be a finite number >= 0, got {value!r}: "
            f"{_where(owner, name)} to a non-negative number"
        )
    return float(value)


def check_choice(owner: str, name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` lower-cased if it is one of ``choices`` (case-insensitive)."""
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    options = ", ".join(repr(c) for c in choices)
    raise ConfigError(
        f"{owner} {name} must be one of {options}, got {value!r}: "
        f"{_where(owner, name)} to one of {options}"
    )


def check_bool(owner: str, name: str, value: object) -> bool:
    """Return ``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise ConfigError(
            f"{owner} {name} must be true or false, got {value!r}: "
            f"{_where(owner, name)} to true or false"
        )
    return value
