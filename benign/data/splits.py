"""Seeded, stratified splits of a labelled training set (validation hold-out, ``train_subset``).

Every split here is a deterministic function of the labels and a seed: the same seed gives the
same points on every machine and every DDP rank. Class shares are kept within one point of
proportional (largest-remainder allocation).
"""

from __future__ import annotations

import math

import numpy as np

from benign.errors import ConfigError


def round_half_up(value: float) -> int:
    """``round`` with halves going up (Python's ``round`` sends 0.5 to 0, 2.5 to 2)."""
    return int(math.floor(value + 0.5))


def split_rng(seed: int, stream: int) -> np.random.Generator:
    """An independent numpy generator for one use (``stream``) of the split seed."""
    return np.random.default_rng([int(seed), int(stream)])


def allocate_stratified(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over classes proportionally to ``counts``, each within 1 of exact.

    Uses the largest-remainder method, so the result sums to ``total`` exactly and never
    exceeds ``counts``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    exact = counts * (total / max(int(counts.sum()), 1))
    base = np.floor(exact).astype(np.int64)
    remainder = total - int(base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:remainder]] += 1
    return np.minimum(base, counts)


def stratified_split(
    labels: np.ndarray, n_take: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Choose ``n_take`` positions of ``labels`` stratified by class.

    Returns:
        ``(taken, rest)``: sorted int64 position arrays that partition ``range(len(labels))``.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    per_class = allocate_stratified(counts, n_take)
    taken: list[np.ndarray] = []
    rest: list[np.ndarray] = []
    for cls, k in zip(classes, per_class, strict=True):
        members = rng.permutation(np.flatnonzero(labels == cls))
        taken.append(members[:k])
        rest.append(members[k:])
    empty = np.zeros(0, dtype=np.int64)
    return (
        np.sort(np.concatenate(taken or [empty])).astype(np.int64),
        np.sort(np.concatenate(rest or [empty])).astype(np.int64),
    )


def resolve_count(value: int | float, total: int, option: str, *, allow_all: bool) -> int:
    """Turn a count or a fraction of ``total`` into a count, checking it fits.

    Args:
        value: an ``int`` count or a ``float`` fraction of ``total``.
        total: the number of points available.
        option: the option name, for the error message (e.g. ``"train_subset"``).
        allow_all: whether taking every point is allowed (``train_subset``) or at least one
            point must remain (``val_split``).
    """
    count = round_half_up(value * total) if isinstance(value, float) else int(value)
    upper = total if allow_all else total - 1
    if count < 1 or count > upper:
        raise ConfigError(
            f"{option}={value} selects {count} of the {total} training points, need 1 to "
            f"{upper}: pass a smaller count or a fraction such as --data.{option} 0.1"
        )
    return count
