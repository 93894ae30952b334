"""E4's figure and summary: every ranker's precision against the planted flips, per noise kind."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from benign.repro.config import Settings
from benign.repro.plots import grouped_bars, new_figure, with_title
from benign.repro.stats import aggregate
from benign.repro.tables import (
    Column,
    dataset_names,
    markdown_table,
    metric_table,
    noise_rate,
    sanity_note,
    summary_document,
)

LOGREG = "logreg_pixels"
CLEANLAB = "cleanlab"
RANKING_METRICS = {
    "precision_at_k": "precision@k (k = n_planted/2)",
    "precision_at_n": "precision@n_planted",
    "recall_at_2n": "recall@2n_planted",
    "average_precision": "average precision",
}
ORDER = {"AT": 0, "AT-steps": 1, "TRADES": 2, "TRADES-steps": 3, "ERM": 4, CLEANLAB: 5, LOGREG: 6}
RANKERS = {
    "AT": "AT: probability of another class",
    "AT-steps": "AT: PGD steps to another class (Zhu et al. 2021)",
    "ERM": "ERM: probability of another class",
    CLEANLAB: "cleanlab on K-fold out-of-sample probabilities of the ERM network",
    LOGREG: "probability of another class from a logistic regression on pixels, K-fold out-of-sample",
}


def method_order(results: pd.DataFrame) -> list[str]:
    methods = results["method"].dropna().unique().tolist()
    return sorted(methods, key=lambda m: (ORDER.get(m, 9), m))


def figure(results: pd.DataFrame) -> Figure:
    """One panel a noise kind: each ranker's precision@k, precision@n, recall@2n, AP."""
    kinds = sorted(results["noise_type"].dropna().unique().tolist())
    figure, axes = new_figure(max(len(kinds), 1), width=6.4)
    rows = results[results["metric"].isin(list(RANKING_METRICS))]
    for ax, kind in zip(axes, kinds, strict=False):
        part = rows[rows["noise_type"] == kind]
        grouped_bars(
            ax,
            aggregate(part, ["method", "metric"]),
            group="method",
            bar="metric",
            title=f"{noise_rate(results):g} {kind} noise",
            ylabel="against the planted flips",
            group_order=[m for m in method_order(part)],
            bar_order=list(RANKING_METRICS),
            bar_labels=RANKING_METRICS,
        )
        ax.set_xlabel("ranker")
    return with_title(figure, f"E4: finding mislabelled training points ({dataset_names(results)})")


def ranking_table(results: pd.DataFrame) -> pd.DataFrame:
    columns = [
        *(Column(label, metric) for metric, label in RANKING_METRICS.items()),
        Column("planted flips fitted (acc_noisy)", "acc_noisy"),
        Column("clean test acc", "acc"),
        Column("cleanlab flagged", "n_flagged"),
        Column("precision of the flagged", "precision_flagged"),
    ]
    ranked = results[results["metric"] != "fold_heldout_acc"]
    table = metric_table(ranked, ["noise_type", "method"], columns, digits=3)
    if table.empty:
        return table
    table["_order"] = table["method"].map(lambda m: ORDER.get(m, 9))
    return table.sort_values(["noise_type", "_order"], kind="stable").drop(columns="_order")


def summary(
    results: pd.DataFrame, settings: Settings, command: str, real_labels: str | None = None
) -> str:
    """summary.md; ``real_labels``: the real-label grids' paragraph (``noise_rate: 0``)."""
    planted = results.loc[results["metric"] == "n_planted", "value"]
    ks = results.loc[results["metric"] == "k", "value"]
    counts = (
        f"{int(planted.iloc[0])} planted flips, k = {int(ks.iloc[0])}"
        if len(planted) and len(ks)
        else "no planted flips"
    )
    rankers = "; ".join(f"`{m}`: {RANKERS[m]}" for m in method_order(results) if m in RANKERS)
    intro = (
        f"E4 (PAPER.md): {noise_rate(results):g} noise planted in the {settings.dataset} "
        f"training labels ({counts}), once per noise kind (symmetric: to a uniform other class; "
        "asymmetric: to the class's confusion partner; instance: to a clean-trained reference "
        "model's runner-up class, the points it confuses most likely to flip). Every ranker "
        "orders all training points "
        "and is scored the same way against the planted flips (mean ± 95% interval over seeds). "
        f"Rankers: {rankers}. cleanlab flagged: points `cleanlab.filter.find_label_issues` "
        "marks, and the share of planted flips among them."
    )
    if noise_rate(results) == 0:
        intro = (
            f"E4 (PAPER.md) on the real {settings.dataset} training labels: nothing is planted, "
            "so no ranking can be scored; every ranker orders all training points by how "
            "confidently it rejects the given label, and the tables give the models' accuracy. "
            f"Rankers: {rankers}. cleanlab flagged: points `cleanlab.filter.find_label_issues` "
            "marks."
        )
    sections = [
        ("Ranking quality", markdown_table(ranking_table(results))),
        (
            "Top candidates (first ranker, seed 0, first noise kind)",
            "The top-ranked training points: their given label, and the class the model "
            "prefers to it with that class's probability (the score); green frame = planted "
            "flip, red = a label the noise did not touch.\n\n![candidates](candidates.png)",
        )
        if real_labels is None
        else ("Top candidates on the real labels", real_labels),
        ("Figure", "![E4](figure.png)"),
    ]
    return summary_document(
        "mislabelled (E4)", command, intro, sections, audit=sanity_note(results)
    )
