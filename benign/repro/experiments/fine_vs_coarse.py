"""E3: training on finer labels makes the coarse task more robust.

PAPER.md, "The experiments", E3 (Sanyal et al., ICLR 2021, Sec. 4): a network trained with
fine-grained labels (the subclasses of each class) and scored on the coarse task is more robust
than one trained on the coarse labels directly. Both models are scored on the coarse task with
the attack on the coarse decision: the fine model through
:class:`benign.callbacks.coarse.CoarseLogits` (``RobustnessEval(score_coarse=True)``), the coarse
model directly (its ``acc``/``robust_acc`` are coarse and are also written as ``coarse_*``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from benign.errors import ConfigError
from benign.repro.base import Cell, Row
from benign.repro.config import Settings, build_datamodule
from benign.repro.experiments.fit import FitExperiment
from benign.repro.fit_cells import base_config
from benign.repro.plots import eps_curves, grouped_bars, new_figure, paired_points, with_title
from benign.repro.stats import aggregate, format_mean_ci, mean_ci
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

LEVEL_LABELS = {"coarse": "trained on coarse labels", "fine": "trained on fine labels"}


def default_coarse_map(config_file: str) -> str | None:
    """The coarse-map preset a base config's data module uses when none is given (the data
    module built as ``benign fit`` builds it, :func:`benign.repro.config.build_datamodule`)."""
    data = base_config(config_file).get("data") or {}
    given = (data.get("init_args") or {}).get("coarse_map")
    return given or getattr(build_datamodule(data), "default_coarse_map", None)


def coarse_maps(conf: Mapping[str, Any]) -> list[Any]:
    """The coarse maps of the grid: ``coarse_maps`` (a list of presets or explicit lists), else
    the single ``coarse_map`` (``None``: the dataset's default)."""
    maps = conf.get("coarse_maps")
    if maps is None:
        return [conf.get("coarse_map")]
    if not isinstance(maps, list) or not maps:
        raise ConfigError(
            f"fine-vs-coarse: coarse_maps must be a non-empty list of presets or lists, got {maps!r}"
        )
    tags = [map_tag(m) for m in maps]
    if len(set(tags)) != len(tags):
        raise ConfigError(f"fine-vs-coarse: coarse_maps has a repeated map: {maps!r}")
    return list(maps)


def map_tag(coarse_map: Any) -> str:
    """A coarse map as part of a cell name: the preset's name, or the explicit list's digits
    (``[0, 0, 1]`` -> ``map001``)."""
    if coarse_map is None:
        return "default"
    if isinstance(coarse_map, str):
        return coarse_map
    return "map" + "".join(str(int(v)) for v in coarse_map)


class FineVsCoarse(FitExperiment):
    """``benign repro fine-vs-coarse``: coarse-task robustness of coarse- vs fine-label training."""

    name = "fine-vs-coarse"

    def cells(self, settings: Settings) -> list[Cell]:
        conf = self.config(settings)
        return [
            cell for seed in range(settings.seeds) for cell in self.seed_cells(settings, conf, seed)
        ]

    def seed_cells(
        self,
        settings: Settings,
        conf: Mapping[str, Any],
        seed: int,
        prefix: str = "",
        method: str = "ERM",
        eval_edits: Mapping[str, Any] | None = None,
    ) -> list[Cell]:
        """One seed's coarse- and fine-label cells for every coarse map of ``conf``; ``prefix``
        starts their names, ``method`` fills their method column (a recipe's tag) and
        ``eval_edits`` edit their ``RobustnessEval``."""
        maps = coarse_maps(conf)
        data: dict[str, Any] = {
            "noise_rate": float(conf.get("noise_rate", 0.0)),
            "noise_type": "symmetric",
        }
        cells = []
        for coarse_map in maps:
            preset = (
                coarse_map if coarse_map is not None else default_coarse_map(conf["configs"]["ERM"])
            )
            # One map keeps the short cell names; several name the map in each cell.
            tag = f"-{map_tag(coarse_map)}" if len(maps) > 1 else ""
            for level in ("coarse", "fine"):
                level_data = {**data, "label_level": level}
                if coarse_map is not None:
                    level_data["coarse_map"] = coarse_map
                # A coarse model's own accuracy is already the coarse task: no second attack.
                edits = {**(eval_edits or {}), "score_coarse": level == "fine"}
                cell = self.fit_cell(
                    settings,
                    conf,
                    f"{prefix}erm-{level}{tag}-seed{seed}",
                    "ERM",
                    seed,
                    {"data": level_data},
                    edits,
                    coarse_map=str(preset) if preset is not None else None,
                )
                cells.append(replace(cell, columns={**cell.columns, "method": method}))
        return cells

    def collect(self, cell: Cell, settings: Settings, cli: Any, run_dir: str) -> list[Row]:
        """The run's metrics; a coarse-label run's ``acc``/``robust_acc`` also as ``coarse_*``."""
        rows = super().collect(cell, settings, cli, run_dir)
        if cell.columns.get("label_level") == "coarse":
            coarse = {"acc": "coarse_acc", "robust_acc": "coarse_robust_acc"}
            rows += [
                {**row, "metric": coarse[row["metric"]]} for row in rows if row["metric"] in coarse
            ]
        return rows

    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        """Per coarse map, coarse robust accuracy vs eps of both trainings; at the setting
        ``headline_eps`` (else the eps nearest 0.1), the paired seeds or one bar per map."""
        results = with_map(results)
        maps = _map_order(results)
        several = len(maps) > 1
        wanted = self.config(settings).get("headline_eps")
        eps = headline_eps(results, "coarse_robust_acc", wanted, default=0.1)
        figure, axes = new_figure(len(maps) + 1, width=4.8 if several else 5.6)
        for ax, name in zip(axes, maps, strict=False):
            eps_curves(
                ax,
                results[results["coarse_map"] == name],
                "coarse_robust_acc",
                hue="label_level",
                label=lambda v: LEVEL_LABELS.get(str(v), str(v)),
                order=["coarse", "fine"],
                title=f"Coarse task ({name}), attack on the coarse decision"
                if several
                else "Coarse task, attack on the coarse decision",
                ylabel="coarse robust test accuracy",
            )
        if several:
            rows = select(results, "coarse_robust_acc", eps)
            grouped_bars(
                axes[-1],
                aggregate(rows, ["coarse_map", "label_level"]),
                group="coarse_map",
                bar="label_level",
                title=f"Coarse robust accuracy at ε={eps:g} per coarse map",
                ylabel="coarse robust test accuracy",
                group_order=maps,
                bar_order=["coarse", "fine"],
                bar_labels=LEVEL_LABELS,
            )
            axes[-1].set_xlabel("coarse map")
        else:
            paired_points(
                axes[-1],
                per_seed(results, eps),
                ["coarse", "fine"],
                labels=[LEVEL_LABELS["coarse"], LEVEL_LABELS["fine"]],
                title=f"Coarse robust accuracy at ε={eps:g}, per seed",
                ylabel="coarse robust test accuracy",
            )
        return with_title(
            figure,
            f"E3: coarse-task robustness of fine- vs coarse-label training ({dataset_names(results)})",
        )

    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        results = with_map(results)
        maps = _map_order(results)
        several = len(maps) > 1
        columns = [
            Column("coarse clean acc", "coarse_acc"),
            *eps_columns(results, "coarse_robust_acc", "coarse robust acc"),
        ]
        index = ["coarse_map", "label_level"] if several else ["label_level"]
        table = metric_table(
            results,
            index,
            columns,
            labels={"label_level": "trained on", "coarse_map": "coarse map"},
        )
        gaps = []
        for name in maps:
            of_map = results[results["coarse_map"] == name]
            for column in columns:
                levels = per_seed(of_map, column.eps, column.metric)
                diff = (levels["fine"] - levels["coarse"]).dropna()
                mean, ci, n = mean_ci(diff)
                gaps.append(
                    {
                        **({"coarse map": name} if several else {}),
                        "measure": column.label,
                        "fine − coarse": format_mean_ci(mean, ci) if n else "–",
                        "seeds": n,
                    }
                )
        intro = (
            f"E3 (PAPER.md): ERM on {settings.dataset} trained on coarse labels (coarse map: "
            f"{', '.join(maps)}) vs on fine labels, both scored on the coarse task"
            f"{' of the same map' if several else ''}; the evaluation's attacks (RobustnessEval's "
            "test evaluation: by default APGD-CE then APGD-DLR over the nested eps grid) target "
            "the coarse decision, eps in pixel units of inputs in [0, 1]."
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


#: The ``coarse_map`` value of rows whose run named none.
DEFAULT_MAP = "the dataset's default"


def with_map(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with every ``coarse_map`` a string (missing: :data:`DEFAULT_MAP`)."""
    frame = results.copy()
    frame["coarse_map"] = frame["coarse_map"].fillna(DEFAULT_MAP).astype(str)
    return frame


def _map_order(results: pd.DataFrame) -> list[str]:
    """The coarse maps of ``results`` in the order of the grid."""
    return list(dict.fromkeys(results["coarse_map"].tolist())) or [DEFAULT_MAP]


def per_seed(
    results: pd.DataFrame,
    eps: float | None,
    metric: str = "coarse_robust_acc",
    index: Sequence[str] = ("seed",),
) -> pd.DataFrame:
    """One row per seed (per combination of ``index``), one column per label level (coarse,
    fine), of ``metric`` at ``eps``."""
    rows = select(results, metric, eps)
    table = rows.pivot_table(
        index=list(index), columns="label_level", values="value", aggfunc="mean"
    )
    return table.reindex(columns=["coarse", "fine"])
