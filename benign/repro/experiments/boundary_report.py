"""E7 ``boundary``: its tables, paired differences and figure, from ``results.csv``.

Used by :class:`benign.repro.experiments.boundary.Boundary` and by
``notebooks/07_boundary.ipynb``. The paired difference of a metric is, per seed, the robust
method's value minus ERM's (the same seed: same split, same initialisation seed), summarised by
its mean and 95% Student-t interval over seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benign.repro.paired import direction, paired_difference
from benign.repro.plots import eps_curves, new_figure, with_title
from benign.repro.stats import format_mean_ci, mean_ci
from benign.repro.tables import (
    Column,
    dataset_names,
    eps_columns,
    headline_eps,
    markdown_table,
    metric_table,
    sanity_note,
    select,
    summary_document,
)

METHOD_ORDER = ("ERM", "AT", "TRADES")
#: The boundary measures and their table labels.
MEASURES = {
    "boundary_changes": "class changes along a segment between two test points",
    "boundary_changes_same": "class changes, pairs of the same class",
    "local_linearity": "local linearity γ of the loss (Qin et al.)",
    "boundary_distance_median": "median ℓ∞ distance to the boundary (bisection)",
    "boundary_distance_mean": "mean ℓ∞ distance to the boundary",
}


def _eps_of(results: pd.DataFrame, metric: str) -> float | None:
    values = results.loc[results["metric"] == metric, "eps"].dropna().unique()
    return float(values[0]) if len(values) else None


def measure_columns(results: pd.DataFrame) -> list[Column]:
    """One table column per boundary measure present in ``results``."""
    columns = []
    for metric, label in MEASURES.items():
        if (results["metric"] == metric).any():
            eps = _eps_of(results, metric)
            columns.append(Column(label + (f" @ ε={eps:g}" if eps else ""), metric, eps))
    return columns


def paired_table(results: pd.DataFrame, columns: list[Column]) -> pd.DataFrame:
    """Rows: metrics; columns: each robust method minus ERM (mean ± 95% CI, seeds)."""
    methods = [m for m in METHOD_ORDER[1:] if (results["method"] == m).any()]
    rows = []
    for column in columns:
        row: dict[str, object] = {"metric": column.label}
        for method in methods:
            mean, ci, n = mean_ci(paired_difference(results, column, "method", method, "ERM"))
            row[f"{method} − ERM"] = format_mean_ci(mean, ci) if n else "–"
            row[f"{method}: interval"] = direction(mean, ci, n)
        rows.append(row)
    return pd.DataFrame(rows)


def _ordered(results: pd.DataFrame) -> list[str]:
    present = set(results["method"].dropna())
    return [m for m in METHOD_ORDER if m in present]


def boundary_figure(results: pd.DataFrame, wanted_eps: float | None = None) -> Figure:
    """Robust accuracy vs eps per method, then each boundary measure per method (seeds as
    dots, mean ± 95% CI as a diamond)."""
    shown = ("boundary_changes", "local_linearity", "boundary_distance_median")
    shown = [m for m in shown if (results["metric"] == m).any()]
    figure, panels = new_figure(1 + len(shown), width=4.2)
    order = _ordered(results)
    eps_curves(panels[0], results, "robust_acc", hue="method", order=order,
               title="Clean labels: robust test accuracy")  # fmt: skip
    for ax, metric in zip(panels[1:], shown, strict=True):
        eps = _eps_of(results, metric)
        for i, method in enumerate(order):
            values = select(results, metric, eps, method=method)["value"].to_numpy(float)
            ax.plot(np.full(len(values), i - 0.1), values, "o", color="0.6", markersize=3)
            mean, ci, _ = mean_ci(values)
            ax.errorbar(i + 0.1, mean, yerr=0.0 if math.isnan(ci) else ci, fmt="D",
                        color=f"C{i}", capsize=4)  # fmt: skip
        ax.set_xticks(range(len(order)), order)
        ax.set_xlim(-0.5, len(order) - 0.5)
        ax.grid(axis="y", alpha=0.3)
        ax.set_title(MEASURES[metric] + (f", ε={eps:g}" if eps else ""), fontsize=9)
    return with_title(
        figure,
        f"E7: clean labels, robustness and decision-boundary complexity ({dataset_names(results)})",
    )


def boundary_summary(
    results: pd.DataFrame, command: str, dataset: str, wanted_eps: float | None = None
) -> str:
    """``summary.md``: accuracies, boundary measures, paired differences to ERM."""
    accuracy = [Column("clean test acc", "acc"), *eps_columns(results, "robust_acc")]
    measures = measure_columns(results)
    order = _ordered(results)

    def by_method(columns: list[Column]) -> str:
        table = metric_table(results, ["method"], columns)
        table = table.set_axis([order.index(m) for m in table["method"]]).sort_index()
        return markdown_table(table)

    eps = headline_eps(results, wanted=wanted_eps, default=0.1)
    headline = [
        Column("clean test acc", "acc"),
        Column(f"robust acc @ ε={eps:g}", "robust_acc", eps),
    ]
    intro = (
        f"E7 (PAPER.md): ERM, adversarial training (AT, PGD) and TRADES on {dataset} with clean "
        "labels (no noise), one backbone. Robust accuracy is the default evaluation on the test "
        "set (eps in pixel units of inputs in [0, 1]). Boundary measures (defined in "
        "benign/analysis/boundary.py) are on a seeded subset of the test set: class changes along "
        "straight segments between random pairs of test points (Novak et al. 2018), the local "
        "linearity γ of the cross-entropy (Qin et al. 2019) and each clean-correct point's ℓ∞ "
        "distance to the boundary by bisection on a PGD eps (censored at its largest eps). "
        "Paired differences are per seed, robust method minus ERM; 'above 0' / 'below 0' when "
        "the 95% interval excludes 0."
    )
    sections = [
        ("Test accuracy, clean and robust", by_method(accuracy)),
        ("Decision-boundary measures", by_method(measures)),
        ("Paired differences to ERM (same seed)", markdown_table(paired_table(results, headline + measures))),
        ("Figure", "![E7](figure.png)"),
    ]  # fmt: skip
    return summary_document("boundary (E7)", command, intro, sections, audit=sanity_note(results))
