"""Coarse labels: resolve ``coarse_map`` (a preset name or an explicit list) into a fine->coarse map.

One mechanism for every dataset: a DataModule declares ``coarse_map_presets`` (name -> list of
superclass indices, one per fine class), names for each preset's superclasses, and a default
preset. Users pick a preset by name or pass their own list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from benign.errors import ConfigError


def halves_map(num_classes: int) -> list[int]:
    """Classes ``0 .. ceil(K/2)-1`` -> 0, the rest -> 1 (e.g. digits 0-4 vs 5-9)."""
    half = (num_classes + 1) // 2
    return [0 if c < half else 1 for c in range(num_classes)]


def halves_names(num_classes: int) -> list[str]:
    """Names of the two :func:`halves_map` superclasses, e.g. ``["0-4", "5-9"]``."""
    half = (num_classes + 1) // 2
    return [f"0-{half - 1}", f"{half}-{num_classes - 1}"]


def _parse_list(spec: str) -> list[int] | None:
    """Read ``"[0, 0, 1]"`` or ``"0,0,1"`` as a list of ints; ``None`` when it is a name."""
    text = spec.strip()
    if not (text.startswith("[") or "," in text):
        return None
    items = [item.strip() for item in text.strip("[]").split(",") if item.strip()]
    try:
        return [int(item) for item in items]
    except ValueError:
        raise ConfigError(
            f"coarse_map {spec!r} is not a list of superclass indices: pass e.g. [0, 0, 1, 1]"
        ) from None


def resolve_coarse_map(
    spec: str | Sequence[int] | None,
    *,
    presets: Mapping[str, Sequence[int]],
    preset_names: Mapping[str, Sequence[str]],
    default: str,
    fine_names: Sequence[str],
    dataset: str,
) -> tuple[np.ndarray, list[str], str]:
    """Resolve and validate a ``coarse_map`` option.

    Args:
        spec: ``None`` (the default preset), a preset name, or a list giving each fine class's
            superclass index (length = number of fine classes, values ``0..C-1`` all used, C >= 2).
        presets: the dataset's presets, name -> list.
        preset_names: superclass names of each preset.
        default: the preset used when ``spec`` is ``None``.
        fine_names: the fine class names (their number fixes the list length).
        dataset: the dataset's short name, for error messages.

    Returns:
        ``(map, coarse_class_names, label)``: an int64 array of length K_fine, the superclass
        names, and the preset name (``"custom"`` for an explicit list).
    """
    valid = ", ".join(sorted(presets)) or "none"
    num_fine = len(fine_names)
    hint = f"use a preset ({valid}) or a list of {num_fine} superclass indices"
    if isinstance(spec, str):
        parsed = _parse_list(spec)
        if parsed is None:
            if spec not in presets:
                raise ConfigError(f"unknown coarse_map '{spec}' for {dataset}: {hint}")
            return _check(presets[spec], num_fine, dataset, hint), list(preset_names[spec]), spec
        spec = parsed
    if spec is None:
        return (
            _check(presets[default], num_fine, dataset, hint),
            list(preset_names[default]),
            default,
        )
    values = list(spec)
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in values):
        raise ConfigError(f"coarse_map for {dataset} must hold integers, got {values}: {hint}")
    mapping = _check(values, num_fine, dataset, hint)
    names = [
        "+".join(fine_names[f] for f in np.flatnonzero(mapping == c))
        for c in range(mapping.max() + 1)
    ]
    return mapping, names, "custom"


def _check(values: Sequence[int], num_fine: int, dataset: str, hint: str) -> np.ndarray:
    """Validate a fine->coarse list: right length, superclasses ``0..C-1`` all used, C >= 2."""
    mapping = np.asarray(list(values), dtype=np.int64)
    if len(mapping) != num_fine:
        raise ConfigError(
            f"coarse_map for {dataset} has {len(mapping)} entries but there are {num_fine} fine "
            f"classes: {hint}"
        )
    used = np.unique(mapping)
    if used.min() < 0 or not np.array_equal(used, np.arange(len(used))) or len(used) < 2:
        raise ConfigError(
            f"coarse_map for {dataset} must use superclasses 0..C-1 (C >= 2) each at least once, "
            f"got values {used.tolist()}: {hint}"
        )
    return mapping
