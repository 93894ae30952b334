"""Paired differences over seeds: one condition minus a reference on the same seed.

Two cells of a grid that share a seed share the data split, the initialisation seed and the noise
seed, so their difference per seed removes most of the seed-to-seed variation (PAPER.md:
compare with intervals). The summary is the mean of the per-seed differences with its 95%
Student-t interval (:func:`benign.repro.stats.mean_ci`).
"""

from __future__ import annotations

import math

import pandas as pd

from benign.repro.tables import Column, select


def paired_difference(
    results: pd.DataFrame,
    column: Column,
    key: str,
    value: object,
    reference: object,
    **equal: object,
) -> pd.Series:
    """Per seed: ``column``'s value where ``key == value`` minus where ``key == reference``
    (rows also matching ``equal``; seeds with both only)."""

    def by_seed(which: object) -> pd.Series:
        rows = select(results, column.metric, column.eps, **{key: which, **equal})
        return rows.groupby("seed")["value"].mean()

    return (by_seed(value) - by_seed(reference)).dropna()


def direction(mean: float, ci: float, n: int) -> str:
    """``above 0`` / ``below 0`` when the 95% interval excludes 0, else ``includes 0``."""
    if n < 2 or not math.isfinite(ci):
        return f"n={n}, no interval"
    if mean - ci > 0:
        return "above 0"
    if mean + ci < 0:
        return "below 0"
    return "includes 0"
