"""E1: networks trained to zero training error on noisy labels are adversarially vulnerable.

PAPER.md, "The experiments", E1 (Sanyal et al., ICLR 2021, Sec. 3): ERM trained to
interpolation at several symmetric noise rates; robust test accuracy falls as the noise rate
grows while clean test accuracy can stay reasonable. Every cell also reports how much of the
noise it fitted (``acc_noisy``), the "to convergence" premise. A second comparison spreads the
same amount of noise uniformly (``symmetric``) or over a few classes (``class_subset``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from benign.repro.base import Cell
from benign.repro.config import Settings
from benign.repro.experiments.fit import FitExperiment
from benign.repro.plots import eps_curves, grouped_bars, new_figure, with_title
from benign.repro.stats import aggregate
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
        for noise_type in compare.get("noise_types", []):
            point = (float(compare["noise_rate"]), str(noise_type))
            if point not in grid:
                grid.append(point)
        cells = []
        for seed in range(settings.seeds):
            for rate, noise_type in grid:
                overrides: dict[str, Any] = {"data": {"noise_rate": rate, "noise_type": noise_type}}
                name = f"erm-{noise_type}-noise{rate:g}-seed{seed}"
                cells.append(self.fit_cell(settings, conf, name, "ERM", seed, overrides))
        return cells

    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        """Robust accuracy vs eps per noise rate; clean and robust accuracy (at the setting
        ``headline_eps``, else the eps nearest 0.05) and the noise fitted per rate; with a
        noise-type comparison, its curves."""
        symmetric = results[results["noise_type"] == "symmetric"]
        compare_rate = _compare_rate(results)
        figure, panels = new_figure(2 if compare_rate is None else 3)
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
        if compare_rate is not None:
            eps_curves(
                panels[2],
                results[results["noise_rate"] == compare_rate],
                "robust_acc",
                hue="noise_type",
                title=f"Noise spread at rate {compare_rate:g}: uniform vs a few classes",
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
        rate = _compare_rate(results)
        intro = (
            f"E1 (PAPER.md): ERM trained to interpolation on {settings.dataset} with symmetric label "
            f"noise; {EVALUATION}, eps in pixel units of inputs in [0, 1]. "
            "`acc_noisy` is the share of noisy-labelled training points predicted as their noisy "
            "label (1.0 = the noise is memorised)."
        )
        sections = [("Robust accuracy vs symmetric noise rate", markdown_table(main))]
        if rate is not None:  # the grid compared noise types at one rate
            spread = metric_table(
                results[results["noise_rate"] == rate],
                ["noise_type"],
                columns,
                labels={"noise_type": "noise type"},
            )
            sections.append(
                (f"Uniform vs class-confined noise at rate {rate:g}", markdown_table(spread))
            )
        sections.append(("Figure", "![E1](figure.png)"))
        return summary_document(
            "label-noise (E1)", self.command(settings), intro, sections, audit=sanity_note(results)
        )


def _compare_rate(results: pd.DataFrame) -> float | None:
    """The noise rate at which the grid compared noise types (None: it compared none)."""
    types = results.groupby("noise_rate")["noise_type"].nunique()
    several = types[types > 1]
    return float(several.index[0]) if len(several) else None
