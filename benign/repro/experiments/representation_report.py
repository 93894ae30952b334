"""E6 ``representation``: the claims' checks, the tables and the figure, from ``results.csv``.

Used by :class:`benign.repro.experiments.representation.Representation` and by
``notebooks/06_representation.ipynb``. Each claim is reduced to numbers with a threshold
(:data:`CHECKS`), so the summary (and the tests) can say whether the simulation shows it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from benign.repro import tables
from benign.repro.plots import grouped_bars
from benign.repro.stats import aggregate, format_mean_ci, mean_ci
from benign.repro.tables import markdown_table

CLAIM2_EPS, CLAIM3_EPS = 0.02, 0.05
SIM_EPS_LABEL = "attack radius ε (ℓ∞, input units of [0, 1]²)"
PROBE_ORDER = ("pixels", "ERM", "AT", "TRADES")


def _sim(results: pd.DataFrame, data: str, method: str, metric: str, eps: float | None) -> float:
    rows = results[
        (results["dataset"] == f"sim-{data}")
        & (results["method"] == method)
        & (results["metric"] == metric)
    ]
    rows = rows[rows["eps"].isna()] if eps is None else rows[(rows["eps"] - eps).abs() < 1e-9]
    return float(rows["value"].mean()) if len(rows) else math.nan


def claim_checks(
    results: pd.DataFrame, claim2_eps: float = CLAIM2_EPS, claim3_eps: float = CLAIM3_EPS
) -> pd.DataFrame:
    """The claims as numbers (means over seeds) with their thresholds and a pass column."""

    def sim(data: str, method: str, metric: str, eps: float | None = None) -> float:
        return _sim(results, data, method, metric, eps)

    e2, e3 = claim2_eps, claim3_eps
    noisy = results[results["dataset"] == "sim-noisy-slab"]["noise_rate"]
    eta = float(noisy.iloc[0]) if len(noisy) else math.nan
    rows = [
        ("2", "natural acc, raw − standardized (clean labels)",
         sim("two-signal", "raw", "acc") - sim("two-signal", "standardized", "acc"), "|x| <= 0.02"),
        ("2", f"robust acc @{e2:g}, raw − standardized (clean labels)",
         sim("two-signal", "raw", "robust_acc", e2) - sim("two-signal", "standardized", "robust_acc", e2),
         ">= 0.5"),
        ("3a", "raw: training error on the noisy labels",
         sim("noisy-slab", "raw", "train_error"), f">= eta/2 = {eta / 2:g}"),
        ("3a", "raw: natural test acc", sim("noisy-slab", "raw", "acc"), ">= 0.95"),
        ("3a", f"raw: robust acc @{e3:g}", sim("noisy-slab", "raw", "robust_acc", e3), ">= 0.9"),
        ("3b", "raw+cells: training error", sim("noisy-slab", "raw+cells", "train_error"), "== 0"),
        ("3b", "raw+cells: natural test acc", sim("noisy-slab", "raw+cells", "acc"), ">= 0.95"),
        ("3b", f"raw+cells: robust acc @{e3:g}",
         sim("noisy-slab", "raw+cells", "robust_acc", e3), "<= 0.5"),
        ("3c", f"any interpolator: robust acc @{e3:g} at most",
         sim("noisy-slab", "any-interpolator", "robust_acc_ceiling", e3), "<= 0.5"),
    ]  # fmt: skip
    table = pd.DataFrame(rows, columns=["claim", "quantity", "value", "shown when"])
    table["shown"] = [
        _passes(v, rule, eta) for v, rule in zip(table["value"], table["shown when"], strict=True)
    ]
    return table


def _passes(value: float, rule: str, eta: float) -> bool:
    if math.isnan(value):
        return False
    if rule.startswith("|x| <="):
        return abs(value) <= float(rule.split("<=")[1])
    if rule.startswith(">= eta/2"):
        return value >= eta / 2
    if rule.startswith("=="):
        return value == float(rule[2:])
    bound = float(rule[2:])
    return value >= bound if rule.startswith(">=") else value <= bound


def probe_table(results: pd.DataFrame, headline_eps: float | None = None) -> pd.DataFrame:
    """Per method: coarse clean acc, coarse robust acc at ``headline_eps``, the fine-label probe
    (mean ± 95% CI over seeds)."""
    real = results[~results["dataset"].astype(str).str.startswith("sim-")]
    eps = tables.headline_eps(real, "robust_acc", headline_eps, default=0.1)
    rows = []
    for method in [m for m in PROBE_ORDER if m in set(real["method"])]:
        mine = real[real["method"] == method]
        row = {"method": method, "seeds": int(mine["seed"].nunique())}
        for label, metric, radius in (
            ("coarse clean acc", "acc", None),
            (f"coarse robust acc @{eps:g}", "robust_acc", eps),
            ("probe fine acc", "probe_fine_acc", None),
        ):
            values = mine[mine["metric"] == metric]
            if radius is not None:
                values = values[(values["eps"] - radius).abs() < 1e-9]
            mean, ci, n = mean_ci(values["value"])
            row[label] = format_mean_ci(mean, ci) if n else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def representation_summary(
    results: pd.DataFrame,
    command: str,
    headline_eps: float | None = None,
    claim2_eps: float = CLAIM2_EPS,
    claim3_eps: float = CLAIM3_EPS,
) -> str:
    """``summary.md``: the claims' checks, the simulation's numbers, the probe table."""
    checks = claim_checks(results, claim2_eps, claim3_eps)
    sim = results[results["dataset"].astype(str).str.startswith("sim-")]
    curves = aggregate(sim[sim["eps"].notna()], ["dataset", "method", "metric", "eps"])
    curves["value"] = [
        format_mean_ci(m, c) for m, c in zip(curves["mean"], curves["ci"], strict=True)
    ]
    wide = curves.pivot_table(
        index=["dataset", "method", "metric"], columns="eps", values="value", aggfunc="first"
    ).reset_index()
    wide.columns = [f"ε={c:g}" if isinstance(c, float) else c for c in wide.columns]
    lines = [
        "# E6 representation: the representation decides robustness",
        "",
        "Simulation (PAPER.md Claims 2 and 3): the same logistic regression on different feature "
        "maps of 2-D inputs; robust accuracy exact in the linf ball (and the [0, 1] box). "
        "Probe: ERM / AT / TRADES trained on the coarse labels, a linear probe on their "
        "penultimate features scored on the fine test labels (PAPER.md E7), `pixels` the same "
        "probe on raw inputs. Values are means (± 95% CI over seeds).",
        "",
        "Made by:",
        "",
        f"```bash\n{command}\n```",
        "",
        "## The claims, as numbers",
        "",
        markdown_table(checks.round(4)),
        f"**{int(checks['shown'].sum())} of {len(checks)} checks shown.**",
        "",
        "## Simulation: accuracy against the attack radius",
        "",
        markdown_table(wide),
        "## Feature probe: fine labels from coarse-label models",
        "",
        markdown_table(probe_table(results, headline_eps)),
        "![E6](figure.png)",
    ]
    return "\n".join(lines) + "\n"


def representation_figure(
    results: pd.DataFrame, headline_eps: float | None = None, figure: Figure | None = None
) -> Figure:
    """Three panels: Claim 2 curves, Claim 3 curves (with the interpolators' ceiling), probe bars.

    Draws into ``figure`` when given (e.g. ``plt.figure()`` in a notebook), else a new one.
    """
    fig = figure if figure is not None else Figure()
    fig.set_size_inches(16, 4.6)
    claim2, claim3, probe = fig.subplots(1, 3)
    sim = results[results["dataset"].astype(str).str.startswith("sim-")]
    _simulation_panel(claim2, sim, "two-signal", ("raw", "standardized"))
    _simulation_panel(claim3, sim, "noisy-slab", ("raw", "raw+cells", "any-interpolator"))
    eta = sim[sim["dataset"] == "sim-noisy-slab"]["noise_rate"]
    claim2.set_title("Claim 2, clean labels: same classifier, two representations", fontsize=10)
    claim3.set_title(
        f"Claim 3, label noise η = {eta.iloc[0] if len(eta) else float('nan'):g}", fontsize=10
    )
    real = results[~results["dataset"].astype(str).str.startswith("sim-")]
    _probe_panel(probe, real, headline_eps)
    fig.tight_layout()
    return fig


def _simulation_panel(ax: Axes, sim: pd.DataFrame, data: str, methods: Sequence[str]) -> None:
    """Robust accuracy vs the attack radius of each representation on one simulated data set
    (``any-interpolator``: the ceiling of every zero-training-error classifier)."""
    for method in methods:
        mine = sim[(sim["dataset"] == f"sim-{data}") & (sim["method"] == method)]
        metric = "robust_acc_ceiling" if method == "any-interpolator" else "robust_acc"
        curve = aggregate(mine[(mine["metric"] == metric) & mine["eps"].notna()], ["eps"])
        if curve.empty:
            continue
        if method == "any-interpolator":
            label, style = "ceiling for any zero-training-error classifier", "k:"
        else:
            acc = mine[mine["metric"] == "acc"]["value"].mean()
            err = mine[mine["metric"] == "train_error"]["value"].mean()
            label, style = f"{method} (natural acc {acc:.2f}, train error {err:.2f})", "o-"
        ax.plot(curve["eps"], curve["mean"], style, markersize=4, label=label)
    ax.set_xlabel(SIM_EPS_LABEL)
    ax.set_ylabel("robust test accuracy")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")


def _probe_panel(ax: Axes, real: pd.DataFrame, headline_eps: float | None) -> None:
    """Per method, the fine-label probe's accuracy beside the coarse robust accuracy."""
    eps = tables.headline_eps(real, "robust_acc", headline_eps, default=0.1)
    bars = pd.concat(
        [
            real[real["metric"] == "probe_fine_acc"],
            real[(real["metric"] == "robust_acc") & ((real["eps"] - eps).abs() < 1e-9)],
        ]
    )
    table = aggregate(bars, ["method", "metric"])
    grouped_bars(
        ax,
        table,
        "method",
        "metric",
        title="Coarse-label models: linear probe for the fine labels "
        f"({tables.dataset_names(real)})",
        ylabel="test accuracy (mean ± 95% CI over seeds)",
        group_order=[m for m in PROBE_ORDER if m in set(table["method"])],
        bar_order=["probe_fine_acc", "robust_acc"],
        bar_labels={
            "probe_fine_acc": "fine-label probe accuracy",
            "robust_acc": f"coarse robust accuracy @ε={eps:g}",
        },
    )
    ax.set_xlabel("training method (pixels: the probe on raw inputs)")
