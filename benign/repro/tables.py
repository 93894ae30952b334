"""The Markdown of ``summary.md``: tables of mean ± 95% CI over seeds and the command line."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from benign.repro.stats import format_mean_ci, mean_ci

#: What a summary's robust accuracy is: the test evaluation of ``RobustnessEval`` as configured.
EVALUATION = (
    "robust accuracy is RobustnessEval's test evaluation on the test set (by default APGD-CE "
    "then APGD-DLR over the nested eps grid, APGD-T added above an AT/TRADES model's training "
    'eps; README "Evaluation")'
)


@dataclass(frozen=True)
class Column:
    """A table column: the mean ± CI of ``metric`` (at ``eps``; ``None``: a non-attack metric)."""

    label: str
    metric: str
    eps: float | None = None


def select(
    results: pd.DataFrame, metric: str, eps: float | None = None, **equal: object
) -> pd.DataFrame:
    """Rows of ``metric`` (at ``eps``; ``None`` means eps empty) whose columns equal ``equal``."""
    mask = results["metric"] == metric
    if eps is None:
        mask &= results["eps"].isna()
    else:
        mask &= (results["eps"] - float(eps)).abs() < 1e-9
    for column, value in equal.items():
        mask &= results[column].isna() if _missing(value) else results[column] == value
    return results[mask]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def eps_values(results: pd.DataFrame, metric: str) -> list[float]:
    """The sorted eps at which ``metric`` was measured."""
    return sorted(results.loc[results["metric"] == metric, "eps"].dropna().unique().tolist())


def headline_eps(
    results: pd.DataFrame,
    metric: str = "robust_acc",
    wanted: float | None = None,
    default: float = 0.1,
) -> float:
    """The positive eps at which ``metric`` was measured nearest to ``wanted`` (the experiment
    setting ``headline_eps``; ``default`` when it is not set); 0.0 when there is none."""
    positive = [eps for eps in eps_values(results, metric) if eps > 0]
    target = default if wanted is None else float(wanted)
    return min(positive, key=lambda eps: abs(eps - target)) if positive else 0.0


def noise_rate(results: pd.DataFrame) -> float:
    """The noise rate of a grid run at one rate (its first; NaN when no row has one)."""
    rates = results["noise_rate"].dropna().unique()
    return float(rates[0]) if len(rates) else math.nan


def dataset_names(results: pd.DataFrame) -> str:
    """The datasets of ``results``, comma-separated (for titles)."""
    return ", ".join(str(name) for name in results["dataset"].dropna().unique())


def eps_columns(results: pd.DataFrame, metric: str, label: str = "robust acc") -> list[Column]:
    """One column per positive eps of ``metric``: ``robust acc @ ε=0.05`` (at eps 0 it is the
    clean accuracy, which tables show as its own column)."""
    return [
        Column(f"{label} @ ε={eps:g}", metric, eps)
        for eps in eps_values(results, metric)
        if eps > 0
    ]


#: Appended to a robust-accuracy cell whose eps the evaluation's audit flagged in a run it averages.
FLAG = "†"


def flagged(results: pd.DataFrame) -> pd.DataFrame:
    """The audit's verdicts at one eps that failed (``sanity_<check>`` rows with an eps, value 0:
    :meth:`benign.callbacks.eval_audit.EvalAudit._eps_verdicts`)."""
    rows = results["metric"].str.startswith("sanity_") & results["eps"].notna()
    return results[rows & (results["value"] < 1)]


def _flag(group: pd.DataFrame, column: Column) -> str:
    """`` †`` when ``column`` is a robust accuracy at an eps flagged in one of ``group``'s runs."""
    if column.eps is None or not column.metric.endswith("robust_acc"):
        return ""
    bad = flagged(group)
    return f" {FLAG}" if ((bad["eps"] - float(column.eps)).abs() < 1e-9).any() else ""


def metric_table(
    results: pd.DataFrame,
    index: Sequence[str],
    columns: Sequence[Column],
    labels: Mapping[str, str] | None = None,
    digits: int = 3,
) -> pd.DataFrame:
    """One row per combination of ``index`` values, one ``mean ± CI`` cell per column.

    Columns that no group has a value for are dropped; ``seeds`` (the number of runs averaged)
    is added last. ``labels`` renames the index columns for display. A robust accuracy at an eps
    the audit flagged in any of the group's runs is kept and marked ``†`` (:func:`sanity_note`).
    """
    rows = []
    for key, group in results.groupby(list(index), dropna=False, sort=True):
        keys = key if isinstance(key, tuple) else (key,)
        row: dict[str, object] = dict(zip(index, keys, strict=True))
        counts = []
        for column in columns:
            mean, ci, n = mean_ci(select(group, column.metric, column.eps)["value"])
            cell = format_mean_ci(mean, ci, digits) + _flag(group, column)
            row[column.label] = cell if n else None
            counts.append(n)
        row["seeds"] = max(counts, default=0)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    keep = [c for c in frame.columns if c in index or c == "seeds" or frame[c].notna().any()]
    return frame[keep].fillna("–").rename(columns=dict(labels or {}))


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (index not shown)."""
    if frame.empty:
        return "_no results_\n"

    def cell(value: object) -> str:
        if isinstance(value, float):
            value = f"{value:g}"
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def summary_document(
    title: str, command: str, intro: str, sections: Sequence[tuple[str, str]], audit: str = ""
) -> str:
    """``summary.md``: a title, what was measured, the command, then ``(heading, body)`` sections
    and, when given, the evaluation audit (:func:`sanity_note`)."""
    parts = [f"# {title}\n", intro.strip() + "\n", "Made by:\n", f"```bash\n{command}\n```\n"]
    parts.append("Cells are mean ± 95% confidence interval (Student's t) over seeds.\n")
    for heading, body in [*sections, *([("Evaluation audit", audit)] if audit else [])]:
        parts.append(f"## {heading}\n")
        parts.append(body.rstrip() + "\n")
    return "\n".join(parts)


def sanity_note(results: pd.DataFrame) -> str:
    """A line on the evaluation's self-audit (:mod:`benign.callbacks.sanity`): in how many runs
    every check passed, and which checks failed where (empty when no run logged it)."""
    ok = results[(results["metric"] == "sanity_ok") & results["eps"].isna()]
    if ok.empty:
        return ""
    passed = int((ok["value"] >= 1).sum())
    text = f"The attack's sanity checks passed in {passed} of {len(ok)} runs' test evaluations."
    failed = results[
        results["metric"].str.startswith("sanity_")
        & (results["metric"] != "sanity_ok")
        & results["eps"].isna()
        & (results["value"] < 1)
    ]
    if len(failed):
        counts = failed["metric"].str.removeprefix("sanity_").value_counts()
        text += " Failed: " + ", ".join(f"{name} ({n} runs)" for name, n in counts.items()) + "."
    at_eps = flagged(results)
    if len(at_eps):
        where = at_eps.groupby([at_eps["metric"].str.removeprefix("sanity_"), "eps"]).size()
        text += (
            f" {FLAG} marks a robust accuracy at an eps flagged in at least one of the runs it"
            " averages (an upper bound the audit's stronger attack beat): "
            + ", ".join(f"{name} at ε={eps:g} ({n} runs)" for (name, eps), n in where.items())
            + "."
        )
    return text
