"""Mean and 95% confidence interval over seeds (PAPER.md: compare over several seeds, with
intervals, never on one run).

The interval is Student's t: ``mean +- t_{0.975, n-1} * s / sqrt(n)``; with one seed there is
no interval (``nan``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float, int]:
    """``(mean, half_width, n)`` of the finite values; half width ``nan`` when ``n < 2``."""
    array = np.asarray(list(values), dtype=float)
    array = array[np.isfinite(array)]
    n = int(array.size)
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(array.mean())
    if n < 2:
        return mean, math.nan, n
    sem = float(array.std(ddof=1)) / math.sqrt(n)
    return mean, float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sem, n


def aggregate(results: pd.DataFrame, by: Sequence[str], value: str = "value") -> pd.DataFrame:
    """One row per group of ``by`` (missing keys kept) with ``mean``, ``ci`` and ``n``."""
    rows = []
    for key, group in results.groupby(list(by), dropna=False, sort=True):
        keys = key if isinstance(key, tuple) else (key,)
        mean, ci, n = mean_ci(group[value])
        rows.append({**dict(zip(by, keys, strict=True)), "mean": mean, "ci": ci, "n": n})
    return pd.DataFrame(rows, columns=[*by, "mean", "ci", "n"])


def format_mean_ci(mean: float, ci: float, digits: int = 3) -> str:
    """``"0.878 ± 0.012"``; just the mean when there is no interval; ``"–"`` when no value."""
    if not math.isfinite(mean):
        return "–"
    if not math.isfinite(ci):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"
