"""E5 ``theorem1``: the summary tables and the figure, from ``results.csv`` alone.

Used by :class:`benign.repro.experiments.theorem1.Theorem1` and by
``notebooks/05_theorem1.ipynb``.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter
from scipy.stats import binomtest

from benign.repro.tables import markdown_table

#: A fraction of trials this far below 1 - delta, under a one-sided exact binomial test at this
#: level, would contradict the theorem; above it the data are consistent with it.
SIGNIFICANCE = 0.05
METHOD_LABELS = {"1nn": "1-NN (exact attack)", "mlp": "MLP (PGD)"}
METHOD_COLOURS = {"1nn": "tab:blue", "mlp": "tab:orange"}


def trials_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per trial, one column per metric, plus ``config`` (the dataset without ``-m<m>``)."""
    keys = ["dataset", "method", "noise_rate", "seed"]
    wide = results.set_index([*keys, "metric"])["value"].unstack("metric").reset_index()
    wide.columns.name = None
    wide["config"] = wide["dataset"].str.rsplit("-m", n=1).str[0]
    return wide


def theorem_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per (config, eta, method, m): trials, risks, the share of trials with risk >= c1 and the
    verdict against 1 - delta (only for m >= m*)."""
    wide = trials_table(results)
    rows = []
    keys = ["config", "noise_rate", "method", "m"]
    for (config, eta, method, m), trials in wide.groupby(keys, sort=True):
        bound, delta = float(trials["m_bound"].iloc[0]), float(trials["delta"].iloc[0])
        fitted = trials[trials["train_error"] == 0]
        successes, n = int(fitted["theorem_holds"].sum()), len(fitted)
        fraction = successes / n if n else float("nan")
        verdict, p_value = "below m*", float("nan")
        if m >= bound and n:
            p_value = binomtest(successes, n, 1 - delta, alternative="less").pvalue
            if fraction >= 1 - delta:
                verdict = "holds"
            else:
                verdict = "consistent" if p_value >= SIGNIFICANCE else "VIOLATED"
        rows.append(
            {
                "config": config,
                "eta": eta,
                "method": method,
                "m": int(m),
                "m / m*": m / bound,
                "trials": len(trials),
                "interpolating": n,
                "adv_risk": trials["adv_risk"].mean(),
                "lower_bound": trials["adv_risk_lower_bound"].mean(),
                "floor_missed": trials["floor_missed"].max(),
                "every_ball_flipped": trials["every_ball_flipped"].mean(),
                "frac_risk>=c1": fraction,
                "1 - delta": 1 - delta,
                "p (binomial)": p_value,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


def theorem1_summary(results: pd.DataFrame, command: str) -> str:
    """``summary.md``: the ``command`` that made the results, the table, and the checks
    (verdicts, attack floor)."""
    table = theorem_table(results)
    wide = trials_table(results)
    delta = 1 - float(table["1 - delta"].iloc[0])
    above = table[table["verdict"] != "below m*"]
    violated = int((above["verdict"] == "VIOLATED").sum())
    broken = wide[(wide["train_error"] == 0) & (wide["floor_missed"] > 0)]
    not_fit = wide[wide["train_error"] > 0]
    lines = [
        "# E5 theorem1: Theorem 1 on the ball distribution",
        "",
        "Each trial: m i.i.d. points of |zeta| one-class balls (radius rho, c1 = c2 = 1), each "
        "label flipped independently with probability eta, an interpolating classifier (1-NN "
        "with an exact attack; an MLP trained to zero training error with PGD), its adversarial "
        "risk at radius 2 rho on a clean test sample. m* = |zeta|/(eta c2) log(|zeta|/delta), "
        f"delta = {delta:g}. A trial has risk >= c1 when its estimate is >= c1 - 1/(4|zeta|) "
        "(a quarter of one ball's mass). For m >= m* the share of such trials is compared with "
        "1 - delta: `holds` (share >= 1 - delta), `consistent` (below, but a one-sided exact "
        f"binomial test at {SIGNIFICANCE:g} cannot reject P >= 1 - delta), `VIOLATED` (it can). "
        "Only interpolating fits (training error 0) count. `lower_bound`: share of test points "
        "within 2 rho of a flipped training point of their ball (misclassified by every "
        "interpolator); `floor_missed`: the largest share, over trials, of those points the "
        "attack did not break (must be 0). Values are means over trials.",
        "",
        "Made by:",
        "",
        f"```bash\n{command}\n```",
        "",
        "## Adversarial risk and Theorem 1's event",
        "",
        markdown_table(table.round(3).astype(object).where(table.notna(), "–")),
        "## Checks",
        "",
        f"- **Theorem 1:** {len(above) - violated} of {len(above)} (configuration, method, "
        f"m >= m*) rows respect it; {violated} violated.",
        f"- **Attack audit:** {len(broken)} interpolating trials in which the attack missed a "
        "point of the lower bound (an exact attack never does).",
        f"- **Not interpolating:** {len(not_fit)} trials (excluded from the check).",
        "",
        "![E5](figure.png)",
    ]
    return "\n".join(lines) + "\n"


def theorem1_figure(results: pd.DataFrame, figure: Figure | None = None) -> Figure:
    """Per configuration: adversarial risk vs m, and the share of trials with risk >= c1 vs m.

    Draws into ``figure`` when given (e.g. ``plt.figure()`` in a notebook), else a new one.
    """
    wide = trials_table(results)
    configs = sorted(wide["config"].unique())
    fig = figure if figure is not None else Figure()
    fig.set_size_inches(11, 3.6 * len(configs))
    axes = fig.subplots(len(configs), 2, squeeze=False)
    table = theorem_table(results)
    for row, config in enumerate(configs):
        trials = wide[wide["config"] == config]
        eta = trials["noise_rate"].iloc[0]
        bound = float(trials["m_bound"].iloc[0])
        risk_ax, frac_ax = axes[row]
        for method, group in trials.groupby("method"):
            stats = group.groupby("m")["adv_risk"].agg(["mean", "std", "count"]).reset_index()
            colour = METHOD_COLOURS.get(method)
            label = f"{METHOD_LABELS.get(method, method)}, {int(stats['count'].min())} trials per m"
            risk_ax.errorbar(
                stats["m"],
                stats["mean"],
                yerr=stats["std"].fillna(0),
                marker="o",
                capsize=3,
                color=colour,
                label=label,
            )
            floor = group.groupby("m")["adv_risk_lower_bound"].mean()
            risk_ax.plot(
                floor.index,
                floor.values,
                linestyle="--",
                color=colour,
                label=f"lower bound for any interpolator ({method} draws)",
            )
            share = table[(table["config"] == config) & (table["method"] == method)]
            frac_ax.plot(share["m"], share["frac_risk>=c1"], marker="o", color=colour, label=label)
        risk_ax.set_ylabel("adversarial risk at radius 2ρ\n(mean ± sd over trials)")
        risk_ax.set_title(f"{config}, η = {eta:g}: adversarial risk")
        delta = float(trials["delta"].iloc[0])
        frac_ax.axhline(1 - delta, color="grey", linestyle=":", label=f"1 − δ = {1 - delta:g}")
        frac_ax.set_ylabel("share of trials with risk ≥ c1")
        frac_ax.set_ylim(-0.03, 1.03)
        frac_ax.set_title(f"{config}, η = {eta:g}: Theorem 1's event")
        for ax in (risk_ax, frac_ax):
            ax.axvline(bound, color="red", linewidth=1, label=f"bound m* = {bound:.0f}")
            ax.set_xscale("log")
            ax.set_xticks(sorted(trials["m"].unique()))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("training-set size m (points, log scale)")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
