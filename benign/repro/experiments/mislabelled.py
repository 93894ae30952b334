"""E4: real datasets contain label noise; a robust model points at it.

PAPER.md, "The experiments", E4 (Sanyal et al., ICLR 2021, Sec. 3): robustly trained models
incur training error on (some) mislabelled images, so ranking the training points by how
confidently such a model disagrees with the given label finds them. Here the flips are planted
(so the ranking can be scored) and the robust model's ranking is compared with ERM's and with
a cleanlab-style out-of-sample baseline (:mod:`benign.repro.mislabelled_ranking`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from benign.repro.base import Cell, Row
from benign.repro.config import Settings, build_datamodule
from benign.repro.experiments.fit import FitExperiment
from benign.repro.fit_cells import base_config, flatten
from benign.repro.mislabelled_ranking import (
    candidate_grid,
    cross_val_suspects,
    rank_suspects,
    ranking_metrics,
)
from benign.repro.plots import grouped_bars, new_figure, with_title
from benign.repro.results import make_row
from benign.repro.stats import aggregate
from benign.repro.tables import (
    Column,
    dataset_names,
    eps_columns,
    markdown_table,
    metric_table,
    noise_rate,
    sanity_note,
    summary_document,
)

CROSS_VAL = "CV-logreg"
RANKING_METRICS = {
    "precision_at_k": "precision@k (k = n_planted/2)",
    "precision_at_n": "precision@n_planted",
    "average_precision": "average precision",
}


class Mislabelled(FitExperiment):
    """``benign repro mislabelled``: precision of a robust model's suspect-label ranking."""

    name = "mislabelled"

    def cells(self, settings: Settings) -> list[Cell]:
        conf = self.config(settings)
        data = {"data": {"noise_rate": float(conf["noise_rate"]), "noise_type": "symmetric"}}
        keep = int(conf.get("keep_ranked", 500))
        cells = []
        for seed in range(settings.seeds):
            for method in conf["rankers"]:
                cell = self.fit_cell(
                    settings, conf, f"{method.lower()}-seed{seed}", method, seed, data
                )
                extra = {
                    **cell.extra,
                    "keep_ranked": keep,
                    "candidates": int(conf.get("candidates", 32)),
                    # The grid shown as candidates.png: the first ranker's, seed 0.
                    "headline": seed == 0 and method == conf["rankers"][0],
                }
                cells.append(dataclasses.replace(cell, extra=extra))
            if conf.get("cross_val"):
                cells.append(self.cross_val_cell(conf, cells[-1], seed, keep))
        return cells

    def cross_val_cell(self, conf: Mapping[str, Any], ranker: Cell, seed: int, keep: int) -> Cell:
        """The cleanlab-style baseline of one seed, on the training labels of its ranker cells."""
        columns = {**ranker.columns, "method": CROSS_VAL, "backbone": "LogisticRegression"}
        data_args = {
            key.split(".", 1)[1]: value
            for key, value in flatten(conf.get("args") or {}).items()
            if key.startswith("data.")
        }
        extra = {
            "config": conf["configs"][conf["rankers"][0]],
            "data_args": data_args,
            "keep_ranked": keep,
            **conf["cross_val"],
        }
        return Cell(name=f"cv-logreg-seed{seed}", columns=columns, extra=extra)

    def compute(self, cell: Cell, settings: Settings) -> list[Row]:
        """The cross-validated baseline's ranking (:func:`cross_val_suspects`) and its scores."""
        ranking = cross_val_suspects(
            _datamodule(cell), folds=int(cell.extra.get("folds", 5)), seed=cell.columns["seed"]
        )
        _save_ranking(ranking, cell, settings)
        return [make_row(cell.columns, k, v) for k, v in ranking_metrics(ranking).items()]

    def collect(self, cell: Cell, settings: Settings, cli: Any, run_dir: str) -> list[Row]:
        """The run's metrics, its ranking's scores, its ranking and its top candidates."""
        rows = super().collect(cell, settings, cli, run_dir)
        ranking = rank_suspects(cli.model, cli.datamodule)
        _save_ranking(ranking, cell, settings)
        count = int(cell.extra["candidates"])
        os.makedirs(os.path.join(settings.out, "candidates"), exist_ok=True)
        grid = os.path.join(settings.out, "candidates", f"{cell.name}.png")
        title = f"Top {count} suspects of {cell.columns['method']} (seed {cell.columns['seed']}): green = planted flip, red = label not changed"
        candidate_grid(ranking.head(count), cli.datamodule, grid, title)
        if cell.extra["headline"]:
            shutil.copyfile(grid, os.path.join(settings.out, "candidates.png"))
        return rows + [make_row(cell.columns, k, v) for k, v in ranking_metrics(ranking).items()]

    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        """Ranking precision per model, and how the planted flips were fitted."""
        order = _method_order(results)
        figure, (precision, fitted) = new_figure(2, width=5.6)
        rows = results[results["metric"].isin(list(RANKING_METRICS))]
        grouped_bars(
            precision,
            aggregate(rows, ["method", "metric"]),
            group="method",
            bar="metric",
            title=f"Ranking training points vs {noise_rate(results):g} planted noise",
            ylabel="precision against planted flips",
            group_order=order,
            bar_order=list(RANKING_METRICS),
            bar_labels=RANKING_METRICS,
        )
        precision.set_xlabel("model that ranks (CV-logreg: out-of-sample logistic regression)")
        trained = [m for m in order if m != CROSS_VAL]
        fit_rows = results[results["metric"].isin(["acc_noisy", "true_acc_noisy"])]
        grouped_bars(
            fitted,
            aggregate(fit_rows, ["method", "metric"]),
            group="method",
            bar="metric",
            title="Planted flips: fitted or predicted as the true label",
            ylabel="share of planted flips",
            group_order=trained,
            bar_order=["acc_noisy", "true_acc_noisy"],
            bar_labels={
                "acc_noisy": "predicted as the planted label",
                "true_acc_noisy": "predicted as the true label",
            },
        )
        fitted.set_xlabel("training method")
        return with_title(
            figure, f"E4: finding mislabelled training points ({dataset_names(results)})"
        )

    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        columns = [
            Column(RANKING_METRICS["precision_at_k"], "precision_at_k"),
            Column(RANKING_METRICS["precision_at_n"], "precision_at_n"),
            Column("recall@2n_planted", "recall_at_2n"),
            Column("average precision", "average_precision"),
            Column("planted flips fitted (acc_noisy)", "acc_noisy"),
            Column("clean test acc", "acc"),
            *eps_columns(results, "robust_acc"),
        ]
        table = metric_table(results, ["method"], columns, digits=3)
        if not table.empty:
            order = _method_order(results)
            table = (
                table.set_index("method")
                .loc[[m for m in order if m in set(table["method"])]]
                .reset_index()
            )
        planted = results.loc[results["metric"] == "n_planted", "value"]
        ks = results.loc[results["metric"] == "k", "value"]
        counts = (
            f"{int(planted.iloc[0])} planted flips, k = {int(ks.iloc[0])}"
            if len(planted) and len(ks)
            else "no planted flips"
        )
        intro = (
            f"E4 (PAPER.md): {noise_rate(results):g} symmetric noise planted in the {settings.dataset} training labels "
            f"({counts}). Each model ranks the training points by its highest probability for a class "
            "other than the given label; precision is against the planted flips. CV-logreg is the "
            "cleanlab-style baseline (out-of-sample probabilities of a logistic regression on pixels)."
        )
        sections = [
            ("Ranking quality", markdown_table(table)),
            (
                "Top candidates (AT, seed 0)",
                "The top-ranked training points: their given label, and the class the model "
                "prefers to it with that class's probability (the score); green frame = planted "
                "flip, red = a label the noise did not touch.\n\n"
                "![candidates](candidates.png)",
            ),
            ("Figure", "![E4](figure.png)"),
        ]
        return summary_document(
            "mislabelled (E4)", self.command(settings), intro, sections, audit=sanity_note(results)
        )


def _method_order(results: pd.DataFrame) -> list[str]:
    methods = results["method"].dropna().unique().tolist()
    rank = {"AT": 0, "TRADES": 1, "ERM": 2, CROSS_VAL: 3}
    return sorted(methods, key=lambda m: (rank.get(m, 9), m))


def _save_ranking(ranking: pd.DataFrame, cell: Cell, settings: Settings) -> None:
    """The top ``keep_ranked`` rows of a ranking in ``<out>/rankings/<cell>.csv``."""
    folder = os.path.join(settings.out, "rankings")
    os.makedirs(folder, exist_ok=True)
    keep = int(cell.extra["keep_ranked"])
    ranking.head(keep).to_csv(os.path.join(folder, f"{cell.name}.csv"), index=False)


def _datamodule(cell: Cell) -> Any:
    """The data module of the cross-validation cell's base config with the grid's data
    arguments and the cell's noise: the same training labels as the seed's runs."""
    data = base_config(cell.extra["config"]).get("data") or {}
    init = {**(data.get("init_args") or {}), **cell.extra["data_args"]}
    init.update(
        noise_rate=cell.columns["noise_rate"],
        noise_type="symmetric",
        noise_seed=cell.columns["seed"],
    )
    datamodule = build_datamodule({**data, "init_args": init})
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule
