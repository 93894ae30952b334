"""E3: training on finer labels makes the coarse task more robust.

PAPER.md, "The experiments", E3 (Sanyal et al., ICLR 2021, Sec. 4): a network trained with
fine-grained labels (the subclasses of each class) and scored on the coarse task is more robust
than one trained on the coarse labels directly. Both models are scored on the coarse task with
the attack on the coarse decision: the fine model through
:class:`benign.callbacks.coarse.CoarseLogits` (``RobustnessEval(score_coarse=True)``), the coarse
model directly (its ``acc``/``robust_acc`` are coarse and are also written as ``coarse_*``).
"""

from __future__ import annotations

import importlib
from typing import Any

import pandas as pd

from benign.repro.base import Cell, Settings
from benign.repro.config import config_path
from benign.repro.experiments.fit import FitExperiment, base_config, metric_rows, run_metrics
from benign.repro.plots import eps_curves, new_figure, paired_points, save_figure
from benign.repro.stats import format_mean_ci, mean_ci
from benign.repro.tables import (
    Column,
    eps_columns,
    markdown_table,
    metric_table,
    sanity_note,
    select,
    summary_document,
)

LEVEL_LABELS = {"coarse": "trained on coarse labels", "fine": "trained on fine labels"}


def default_coarse_map(config_file: str) -> str | None:
    """The coarse-map preset a base config's data module uses when none is given."""
    data = base_config(config_file).get("data") or {}
    module, _, name = str(data.get("class_path", "")).rpartition(".")
    try:
        datamodule = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    return (data.get("init_args") or {}).get("coarse_map") or getattr(
        datamodule, "default_coarse_map", None
    )


class FineVsCoarse(FitExperiment):
    """``benign repro fine-vs-coarse``: coarse-task robustness of coarse- vs fine-label training."""

    name = "fine-vs-coarse"
    headline_eps: float | None = None

    def cells(self, settings: Settings) -> list[Cell]:
        conf = self.config(settings)
        self.headline_eps = conf.get("headline_eps")
        coarse_map = conf.get("coarse_map")
        preset = (
            coarse_map
            if coarse_map is not None
            else default_coarse_map(config_path(conf["configs"]["ERM"]))
        )
        data: dict[str, Any] = {
            "noise_rate": float(conf.get("noise_rate", 0.0)),
            "noise_type": "symmetric",
        }
        if coarse_map is not None:
            data["coarse_map"] = coarse_map
        cells = []
        for seed in range(settings.seeds):
            for level in ("coarse", "fine"):
                overrides = {"data": {**data, "label_level": level}}
                # A coarse model's own accuracy is already the coarse task: no second attack.
                eval_edits = {"score_coarse": level == "fine"}
                name = f"erm-{level}-seed{seed}"
                cells.append(
                    self.fit_cell(
                        settings,
                        conf,
                        name,
                        "ERM",
                        seed,
                        overrides,
                        eval_edits,
                        coarse_map=str(preset) if preset is not None else None,
                    )
                )
        return cells

    def collect(
        self, cell: Cell, settings: Settings, cli: Any, run_dir: str
    ) -> list[dict[str, Any]]:
        rows = metric_rows(run_metrics(cli, run_dir), cell.columns)
        if cell.columns.get("label_level") == "coarse":
            coarse = {"acc": "coarse_acc", "robust_acc": "coarse_robust_acc"}
            rows += [
                {**row, "metric": coarse[row["metric"]]} for row in rows if row["metric"] in coarse
            ]
        return rows

    def figure(self, results: pd.DataFrame, path: str) -> None:
        figure, (curves, paired) = new_figure(2, width=5.6)
        eps_curves(
            curves,
            results,
            "coarse_robust_acc",
            hue="label_level",
            label=lambda v: LEVEL_LABELS.get(str(v), str(v)),
            order=["coarse", "fine"],
            title="Coarse task, attack on the coarse decision",
            ylabel="coarse robust test accuracy",
        )
        eps = _headline_eps(results, self.headline_eps)
        per_seed = _per_seed(results, eps)
        paired_points(
            paired,
            per_seed,
            ["coarse", "fine"],
            labels=[LEVEL_LABELS["coarse"], LEVEL_LABELS["fine"]],
            title=f"Coarse robust accuracy at ε={eps:g}, per seed",
            ylabel="coarse robust test accuracy",
        )
        datasets = ", ".join(map(str, results["dataset"].unique()))
        save_figure(
            figure,
            path,
            f"E3: coarse-task robustness of fine- vs coarse-label training ({datasets})",
        )

    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        columns = [
            Column("coarse clean acc", "coarse_acc"),
            *eps_columns(results, "coarse_robust_acc", "coarse robust acc"),
        ]
        table = metric_table(
            results, ["label_level"], columns, labels={"label_level": "trained on"}
        )
        gaps = []
        for column in columns:
            per_seed = _per_seed(results, column.eps, column.metric)
            diff = (per_seed["fine"] - per_seed["coarse"]).dropna()
            mean, ci, n = mean_ci(diff)
            gaps.append(
                {
                    "measure": column.label,
                    "fine − coarse": format_mean_ci(mean, ci) if n else "–",
                    "seeds": n,
                }
            )
        maps = (
            ", ".join(str(m) for m in results["coarse_map"].dropna().unique())
            or "the dataset's default"
        )
        intro = (
            f"E3 (PAPER.md): ERM on {settings.dataset} trained on coarse labels (coarse map: {maps}) vs on "
            "fine labels, both scored on the coarse task; the attack (PGD) targets the coarse decision, "
            "eps in pixel units of inputs in [0, 1]."
        )
        sections = [
            ("Coarse-task accuracy, clean and robust", markdown_table(table)),
            (
                "Fine-label minus coarse-label training (paired by seed)",
                markdown_table(pd.DataFrame(gaps)),
            ),
            ("Figure", "![E3](figure.png)"),
        ]
        return summary_document(
            "fine-vs-coarse (E3)",
            self.command(settings),
            intro,
            sections,
            audit=sanity_note(results),
        )


def _per_seed(
    results: pd.DataFrame, eps: float | None, metric: str = "coarse_robust_acc"
) -> pd.DataFrame:
    """One row per seed, one column per label level, of ``metric`` at ``eps``."""
    rows = select(results, metric, eps)
    table = rows.pivot_table(index="seed", columns="label_level", values="value", aggfunc="mean")
    return table.reindex(columns=["coarse", "fine"])


def _headline_eps(results: pd.DataFrame, wanted: float | None) -> float:
    eps = sorted(results.loc[results["metric"] == "coarse_robust_acc", "eps"].dropna().unique())
    positive = [e for e in eps if e > 0] or [0.0]
    target = 0.1 if wanted is None else float(wanted)
    return min(positive, key=lambda e: abs(e - target))
