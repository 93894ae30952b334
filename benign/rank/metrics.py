"""How well a ranking of training points finds the noisy labels (PAPER.md, E4).

A ranking is a table, most suspicious first, with a boolean ``planted`` column (the label was
made noisy) and a ``score`` column (higher = more suspicious); ``benign rank``'s ranking.csv
is scored by its ``rank`` column alone (:func:`benign.rank.ranking.precision_metrics`).
"""

from __future__ import annotations

import pandas as pd
from sklearn.metrics import average_precision_score


def precision_at_k(ranking: pd.DataFrame, k: int) -> float:
    """Share of planted noisy labels among the ``k`` top-ranked points."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return float(ranking["planted"].head(k).mean())


def ranking_metrics(ranking: pd.DataFrame) -> dict[str, float]:
    """Precision of a ranking against the planted flips (PAPER.md E4).

    ``precision_at_k`` at ``k = n_planted / 2`` (the headline), ``precision_at_n`` at
    ``k = n_planted``, ``recall_at_2n`` (share of planted flips in the top ``2 n_planted``),
    ``average_precision`` (over all k) and ``n_planted``, ``k`` themselves. Empty when nothing
    was planted (there is then nothing to score against).
    """
    n_planted = int(ranking["planted"].sum())
    if n_planted == 0:
        return {}
    k = max(1, n_planted // 2)
    return {
        "precision_at_k": precision_at_k(ranking, k),
        "precision_at_n": precision_at_k(ranking, n_planted),
        "recall_at_2n": float(ranking["planted"].head(2 * n_planted).sum()) / n_planted,
        "average_precision": float(average_precision_score(ranking["planted"], ranking["score"])),
        "n_planted": float(n_planted),
        "k": float(k),
    }
