"""E1: networks trained to zero training error on noisy labels are adversarially vulnerable.

PAPER.md, "The experiments", E1 (Sanyal et al., ICLR 2021, Sec. 3): ERM trained to
interpolation at several symmetric noise rates; robust test accuracy falls as the noise rate
grows while clean test accuracy can stay reasonable. Every cell also reports how much of the
noise it fitted (``acc_noisy``), the "to convergence" premise, and its realised noise rate.

A second comparison puts the same amount of noise in different places (``compare``: rates and
noise kinds): uniformly (``symmetric``), to a partner class (``asymmetric``: only the classes
with a partner, so its realised rate is lower), over a few classes (``class_subset``), where a
clean-trained reference model is confused (``instance``) or spread as evenly as possible over
the training set (``coverage``, the worst case of Theorem 1). Each kind is reported beside
``symmetric`` at the same rate, as the paired difference per seed with a 95% interval (the
follow-up's claim, PAPER.md: uniform noise is nearly as harmful as the worst placement and
more harmful than realistic noise).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from benign.repro.base import Cell, Row
from benign.repro.config import Settings
from benign.repro.experiments.fit import FitExperiment
from benign.repro.paired import direction, paired_difference
from benign.repro.plots import eps_curves, grouped_bars, new_figure, with_title
from benign.repro.results import make_row
from benign.repro.stats import aggregate, format_mean_ci, mean_ci
from benign.repro.tables import (
    EVALUATION,
    Column,
    dataset_names,
    eps_columns,
    headline_eps,
    markdown_table,
    metric_table,
    sanity_note,
    summary_document,
)

FIT_COLUMNS = [
    Column("train fit of noisy labels (acc_noisy)", "acc_noisy"),
    Column("train acc on clean labels", "acc_clean"),
]


def noise_label(rate: object) -> str:
    return f"noise {float(rate):g}"


class LabelNoise(FitExperiment):
    """``benign repro label-noise``: robust accuracy of interpolating ERM vs the noise rate."""

    name = "label-noise"

    def cells(self, settings: Settings) -> list[Cell]:
        conf = self.config(settings)
        grid: list[tuple[float, str]] = [(float(r), "symmetric") for r in conf["noise_rates"]]
        compare = conf.get("compare") or {}
        for rate in compare_rates(compare):
            for noise_type in compare.get("noise_types", []):
                point = (rate, str(noise_type))
                if point not in grid:
                    grid.append(point)
        cells = []
        for seed in range(settings.seeds):
            for rate, noise_type in grid:
                overrides: dict[str, Any] = {"data": {"noise_rate": rate, "noise_type": noise_type}}
                name = f"erm-{noise_type}-noise{rate:g}-seed{seed}"
                cells.append(self.fit_cell(settings, conf, name, "ERM", seed, overrides))
        return cells

    def collect(self, cell: Cell, settings: Settings, cli: Any, run_dir: str) -> list[Row]:
        """The run's metrics plus its realised noise rate (``asymmetric`` flips fewer)."""
        rows = super().collect(cell, settings, cli, run_dir)
        realised = float(cli.datamodule.realised_noise_rate)
        return [*rows, make_row(cell.columns, "realised_noise_rate", realised)]

    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        """Robust accuracy vs eps per noise rate; clean and robust accuracy (at the setting
        ``headline_eps``, else the eps nearest 0.05) and the noise fitted per rate; with a
        noise-type comparison, its curves."""
        symmetric = results[results["noise_type"] == "symmetric"]
        rates = _compare_rates(results)
        figure, panels = new_figure(2 + len(rates))
        curves, headline = panels[0], panels[1]
        eps_curves(
            curves,
            symmetric,
            "robust_acc",
            hue="noise_rate",
            label=noise_label,
            title="ERM trained to interpolation: symmetric label noise",
        )
        eps = headline_eps(results, wanted=self.config(settings).get("headline_eps"), default=0.05)
        at_eps = symmetric[(symmetric["eps"] - eps).abs() < 1e-9]
        rows = pd.concat(
            [
                symmetric[(symmetric["metric"] == "acc") & symmetric["eps"].isna()].assign(
                    kind="clean test acc"
                ),
                at_eps[at_eps["metric"] == "robust_acc"].assign(kind=f"robust @ ε={eps:g}"),
                symmetric[symmetric["metric"] == "acc_noisy"].assign(kind="noise fitted (train)"),
            ]
        )
        grouped_bars(
            headline,
            aggregate(rows, ["noise_rate", "kind"]),
            group="noise_rate",
            bar="kind",
            title="Clean and robust test accuracy, noise fitted",
            ylabel="accuracy / share",
            group_order=sorted(rows["noise_rate"].unique()),
            bar_order=["clean test acc", f"robust @ ε={eps:g}", "noise fitted (train)"],
        )
        headline.set_xlabel("symmetric label-noise rate (share of training labels flipped)")
        for ax, rate in zip(panels[2:], rates, strict=True):
            eps_curves(
                ax,
                results[results["noise_rate"] == rate],
                "robust_acc",
                hue="noise_type",
                title=f"Noise kinds at rate {rate:g}",
            )
        return with_title(
            figure,
            "E1: label noise and adversarial vulnerability of interpolating ERM "
            f"({dataset_names(results)})",
        )

    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        symmetric = results[results["noise_type"] == "symmetric"]
        columns = [
            Column("clean test acc", "acc"),
            *eps_columns(results, "robust_acc"),
            *FIT_COLUMNS,
        ]
        main = metric_table(symmetric, ["noise_rate"], columns, labels={"noise_rate": "noise rate"})
        intro = (
            f"E1 (PAPER.md): ERM trained to interpolation on {settings.dataset} with symmetric label "
            f"noise; {EVALUATION}, eps in pixel units of inputs in [0, 1]. "
            "`acc_noisy` is the share of noisy-labelled training points predicted as their noisy "
            "label (1.0 = the noise is memorised)."
        )
        sections = [("Robust accuracy vs symmetric noise rate", markdown_table(main))]
        eps = headline_eps(results, wanted=self.config(settings).get("headline_eps"), default=0.05)
        for rate in _compare_rates(results):  # the grid compared noise kinds at these rates
            sections.append(
                (f"Noise kinds at rate {rate:g}", _kinds_section(results, rate, columns, eps))
            )
        sections.append(("Figure", "![E1](figure.png)"))
        return summary_document(
            "label-noise (E1)", self.command(settings), intro, sections, audit=sanity_note(results)
        )


def compare_rates(compare: dict[str, Any]) -> list[float]:
    """The rates of the ``compare`` block: ``noise_rates`` (a list) or one ``noise_rate``."""
    if "noise_rates" in compare:
        return [float(r) for r in compare["noise_rates"]]
    return [float(compare["noise_rate"])] if "noise_rate" in compare else []


def _compare_rates(results: pd.DataFrame) -> list[float]:
    """The noise rates at which the grid compared noise types (empty: it compared none)."""
    types = results.groupby("noise_rate")["noise_type"].nunique()
    return [float(rate) for rate in types[types > 1].index]


def _kinds_section(results: pd.DataFrame, rate: float, columns: list[Column], eps: float) -> str:
    """Every noise kind at ``rate``, then each kind minus ``symmetric`` paired by seed."""
    at_rate = results[(results["noise_rate"] - rate).abs() < 1e-9]
    realised = [*columns, Column("realised noise rate", "realised_noise_rate")]
    table = metric_table(at_rate, ["noise_type"], realised, labels={"noise_type": "noise type"})
    compared = [
        Column(f"robust acc @ ε={eps:g}", "robust_acc", eps),
        Column("clean test acc", "acc"),
        Column("noise fitted (acc_noisy)", "acc_noisy"),
    ]
    rows = []
    for kind in sorted(set(at_rate["noise_type"].dropna()) - {"symmetric"}):
        row: dict[str, object] = {"noise type": kind}
        for column in compared:
            diff = paired_difference(at_rate, column, "noise_type", kind, "symmetric")
            mean, ci, n = mean_ci(diff)
            row[f"{column.label} − symmetric's"] = (
                f"{format_mean_ci(mean, ci)} ({direction(mean, ci, n)})" if n else "–"
            )
        rows.append(row)
    paired = (
        f"Paired by seed, each kind minus `symmetric` at rate {rate:g} (mean ± 95% CI; 'above 0' "
        "/ 'below 0' when the interval excludes 0):\n\n" + markdown_table(pd.DataFrame(rows))
    )
    return markdown_table(table) + "\n" + (paired if rows else "")
