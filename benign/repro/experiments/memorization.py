"""E2: adversarial training and TRADES do not fit (most of) the label noise.

PAPER.md, "The experiments", E2 (Sanyal et al., ICLR 2021, Sec. 3): robustly trained models
keep training error on the noisy labels, which the paper links to their lower natural test
accuracy. Per method and training eps, at one noise rate: the share of noisy-labelled training
points predicted as their noisy label (``acc_noisy``) or as their true label
(``true_acc_noisy``), training accuracy on clean points, and test clean/robust accuracy.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from benign.repro.base import Cell
from benign.repro.config import Settings
from benign.repro.experiments.fit import FitExperiment
from benign.repro.plots import eps_curves, grouped_bars, new_figure, with_title
from benign.repro.stats import aggregate, format_mean_ci, mean_ci
from benign.repro.tables import (
    EVALUATION,
    Column,
    dataset_names,
    eps_columns,
    markdown_table,
    metric_table,
    noise_rate,
    sanity_note,
    select,
    summary_document,
)

FIT_METRICS = {
    "acc_noisy": "noisy: fit noisy label",
    "true_acc_noisy": "noisy: true label",
    "acc_clean": "clean: correct",
}
#: Table headers of the training-fit metrics (the figure uses the short labels above).
FIT_HEADERS = {
    "acc_noisy": "noisy labels fitted (acc_noisy)",
    "true_acc_noisy": "noisy points predicted as true label (true_acc_noisy)",
    "acc_clean": "clean training points correct (acc_clean)",
}
METHOD_ORDER = ("ERM", "AT", "TRADES")


def variant(method: object, train_eps: object) -> str:
    """``"ERM"`` or ``"AT ε=0.1"``: a method at its training eps."""
    eps = float(train_eps) if train_eps is not None and not pd.isna(train_eps) else 0.0
    return str(method) if eps == 0 else f"{method} ε={eps:g}"


def with_variant(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with a ``variant`` column, ordered ERM, AT..., TRADES... by training eps."""
    frame = results.copy()
    frame["variant"] = [
        variant(m, e) for m, e in zip(frame["method"], frame["train_eps"], strict=True)
    ]
    return frame


def variant_order(frame: pd.DataFrame) -> list[str]:
    keys = frame[["method", "train_eps", "variant"]].drop_duplicates()
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    keys = keys.assign(
        r=keys["method"].map(lambda m: rank.get(m, len(rank))), e=keys["train_eps"].fillna(0)
    )
    return keys.sort_values(["r", "e"])["variant"].tolist()


class Memorization(FitExperiment):
    """``benign repro memorization``: does robust training fit the noisy labels?"""

    name = "memorization"

    def cells(self, settings: Settings) -> list[Cell]:
        conf = self.config(settings)
        rate = float(conf["noise_rate"])
        data: dict[str, Any] = {"data": {"noise_rate": rate, "noise_type": "symmetric"}}
        cells = []
        for seed in range(settings.seeds):
            cells.append(
                self.fit_cell(settings, conf, f"erm-seed{seed}", "ERM", seed, data, train_eps=0.0)
            )
            for method, eps_list in (conf.get("train_eps") or {}).items():
                for eps in eps_list:
                    attack = {
                        "model": {"init_args": {"attack": {"init_args": {"eps": float(eps)}}}}
                    }
                    name = f"{method.lower()}-eps{float(eps):g}-seed{seed}"
                    cells.append(
                        self.fit_cell(
                            settings,
                            conf,
                            name,
                            method,
                            seed,
                            {**data, **attack},
                            train_eps=float(eps),
                        )
                    )
        return cells

    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        """The training fit of noisy and clean points per method, and robust accuracy vs eps."""
        frame = with_variant(results)
        order = variant_order(frame)
        figure, (fit, curves) = new_figure(2, width=6.0)
        rows = frame[frame["metric"].isin(list(FIT_METRICS))]
        grouped_bars(
            fit,
            aggregate(rows, ["variant", "metric"]),
            group="variant",
            bar="metric",
            title=f"Training fit at noise rate {noise_rate(results):g}",
            ylabel="share of training points",
            group_order=order,
            bar_order=list(FIT_METRICS),
            bar_labels=FIT_METRICS,
        )
        fit.set_xlabel("training method (training ε, ℓ∞)")
        eps_curves(
            curves, frame, "robust_acc", hue="variant", order=order, title="Robust test accuracy"
        )
        return with_title(
            figure,
            f"E2: do robust training methods fit the label noise? ({dataset_names(results)})",
        )

    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        frame = with_variant(results)
        fit = metric_table(
            frame,
            ["variant"],
            [Column(label, metric) for metric, label in FIT_HEADERS.items()],
            labels={"variant": "method"},
        )
        test = metric_table(
            frame,
            ["variant"],
            [Column("clean test acc", "acc"), *eps_columns(frame, "robust_acc")],
            labels={"variant": "method"},
        )
        order = variant_order(frame)
        fit, test = (
            table.set_axis([order.index(v) for v in table["method"]]).sort_index()
            for table in (fit, test)
        )
        intro = (
            f"E2 (PAPER.md): ERM, adversarial training (AT, PGD) and TRADES on {settings.dataset} with "
            f"{noise_rate(results):g} symmetric label noise. Training fit is measured on the final weights "
            f"over the whole training split; {EVALUATION} (eps in pixel units of inputs in [0, 1])."
        )
        sections = [
            ("Which training labels are fitted", markdown_table(fit)),
            ("Test accuracy, clean and robust", markdown_table(test)),
            ("Natural-accuracy gap to ERM (paired by seed)", markdown_table(_gap_table(frame))),
            ("Figure", "![E2](figure.png)"),
        ]
        return summary_document(
            "memorization (E2)", self.command(settings), intro, sections, audit=sanity_note(results)
        )


def _gap_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per robust variant: clean test acc minus ERM's on the same seed, and noise fitted."""
    erm = select(frame, "acc", method="ERM").set_index("seed")["value"]
    rows = []
    for name in variant_order(frame):
        if name == "ERM":
            continue
        acc = select(frame[frame["variant"] == name], "acc").set_index("seed")["value"]
        gap = (acc - erm).dropna()
        mean, ci, n = mean_ci(gap)
        fitted, fitted_ci, _ = mean_ci(
            select(frame[frame["variant"] == name], "acc_noisy")["value"]
        )
        rows.append(
            {
                "method": name,
                "clean test acc − ERM's": format_mean_ci(mean, ci) if n else "–",
                "noisy labels fitted": format_mean_ci(fitted, fitted_ci),
                "seeds": n,
            }
        )
    return pd.DataFrame(rows)
