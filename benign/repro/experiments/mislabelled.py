"""E4: real datasets contain label noise; a robust model points at it.

PAPER.md, "The experiments", E4 (Sanyal et al., ICLR 2021, Sec. 3): robustly trained models
incur training error on (some) mislabelled images, so ranking the training points by how
confidently such a model disagrees with the given label finds them. Here the flips are planted
(symmetric and asymmetric noise at the same rate, so the ranking can be scored) and every ranker
is scored the same way (:func:`benign.rank.metrics.ranking_metrics`):

* ``AT``, ``ERM``: the trained model's probability of a class other than the given label;
* ``AT-steps``: the PGD steps that move a point to another class (Zhu et al., 2021), fewest first;
* ``cleanlab``: cleanlab on K-fold out-of-sample probabilities of the same network trained by
  ERM, one fold a ``benign fit`` cell (:mod:`.mislabelled_folds`);
* ``logreg_pixels``: the same score from out-of-sample probabilities of a logistic regression on
  raw pixels (:func:`benign.repro.mislabelled_ranking.cross_val_suspects`), no network.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from benign.errors import ConfigError
from benign.rank.ranking import (
    StepsAttack,
    precision_metrics,
    ranking_table,
    score_points,
    split_points,
)
from benign.repro.base import Cell, Row
from benign.repro.config import Settings
from benign.repro.experiments import mislabelled_folds as folds
from benign.repro.experiments import mislabelled_grids as grids
from benign.repro.experiments import mislabelled_report as report
from benign.repro.experiments.fit import FitExperiment
from benign.repro.mislabelled_ranking import (
    cross_val_suspects,
    rank_suspects,
    ranking_metrics,
)
from benign.repro.results import make_row

LOGREG = report.LOGREG
CLEANLAB = report.CLEANLAB


class Mislabelled(FitExperiment):
    """``benign repro mislabelled``: precision of suspect-label rankings against planted flips."""

    name = "mislabelled"

    def cells(self, settings: Settings) -> list[Cell]:
        conf = self.config(settings)
        rate = float(conf["noise_rate"])
        kinds = list(conf.get("noise_types") or ["symmetric"]) if rate > 0 else ["symmetric"]
        cells = []
        # Seed-major: a grid stopped part-way has whole seeds done (``--seeds N`` gathers them).
        for seed in range(settings.seeds):
            for kind in kinds:
                data = {"data": {"noise_rate": rate, "noise_type": kind}}
                headline = seed == 0 and kind == kinds[0]
                cells += [
                    self.ranker_cell(settings, conf, kind, seed, method, data, headline)
                    for method in conf["rankers"]
                ]
                if conf.get("cleanlab"):
                    cells += self.fold_cells(settings, conf, kind, seed, data)
                if conf.get("logreg_pixels"):
                    cells.append(self.logreg_cell(conf, cells[-1], kind, seed))
        return cells

    def ranker_cell(
        self, settings: Settings, conf: Mapping[str, Any], kind: str, seed: int, method: str,
        data: Mapping[str, Any], headline: bool,
    ) -> Cell:  # fmt: skip
        """A trained model that ranks the training points (and, in ``steps_rankers``, by
        attack steps too)."""
        name = f"{method.lower()}-{kind}-seed{seed}"
        cell = self.fit_cell(settings, conf, name, method, seed, data)
        extra = {
            **cell.extra,
            "keep_ranked": int(conf.get("keep_ranked", 500)),
            "candidates": int(conf.get("candidates", 32)),
            "steps": dict(conf.get("steps") or {}) if method in conf.get("steps_rankers", []) else None,
            # The grid shown as candidates.png: the first ranker's, seed 0, first noise kind.
            "headline": headline and method == conf["rankers"][0],
        }  # fmt: skip
        return dataclasses.replace(cell, extra=extra)

    def fold_cells(
        self, settings: Settings, conf: Mapping[str, Any], kind: str, seed: int,
        data: Mapping[str, Any],
    ) -> list[Cell]:  # fmt: skip
        """The K ERM fold cells of the cleanlab baseline of one noise kind and seed."""
        if importlib.util.find_spec("cleanlab") is None:
            raise ConfigError(
                "mislabelled: the cleanlab baseline needs the cleanlab package: pip install "
                "'benign[cleanlab]' (make install does), or skip it with --set cleanlab=null"
            )
        spec = conf["cleanlab"]
        k, method = int(spec.get("folds", 5)), str(spec.get("method", "ERM"))
        group = f"cleanlab-{kind}-seed{seed}"
        cells = []
        for fold in range(k):
            overrides = {"data": {**data["data"], "num_folds": k, "holdout_fold": fold}}
            cell = self.fit_cell(
                settings, conf, f"{group}-fold{fold}of{k}", method, seed, overrides, {"eps": [0.0]}
            )
            cell = dataclasses.replace(cell, columns={**cell.columns, "method": CLEANLAB})
            extra = {
                **cell.extra,
                "fold": fold,
                "folds": k,
                "group": group,
                "key": folds.group_key(cell.args),
                "keep_ranked": int(conf.get("keep_ranked", 500)),
            }
            cells.append(dataclasses.replace(cell, extra=extra))
        return cells

    def logreg_cell(self, conf: Mapping[str, Any], ranker: Cell, kind: str, seed: int) -> Cell:
        """The logistic regression on pixels of one seed, on the training labels of its
        ranker cells."""
        columns = {**ranker.columns, "method": LOGREG, "backbone": "LogisticRegression"}
        data_args = grids.grid_data_args(conf)
        extra = {
            "config": conf["configs"][conf["rankers"][0]],
            "data_args": data_args,
            "keep_ranked": int(conf.get("keep_ranked", 500)),
            **conf["logreg_pixels"],
        }
        return Cell(name=f"logreg-pixels-{kind}-seed{seed}", columns=columns, extra=extra)

    def compute(self, cell: Cell, settings: Settings) -> list[Row]:
        """The logistic-regression baseline's ranking (:func:`cross_val_suspects`) and scores."""
        ranking = cross_val_suspects(
            _datamodule(cell), folds=int(cell.extra.get("folds", 5)), seed=cell.columns["seed"]
        )
        _save_ranking(ranking, cell.name, cell, settings)
        return [make_row(cell.columns, k, v) for k, v in ranking_metrics(ranking).items()]

    def collect(self, cell: Cell, settings: Settings, cli: Any, run_dir: str) -> list[Row]:
        """A ranker's metrics and rankings, or a fold's probabilities (and cleanlab's rows)."""
        if "fold" in cell.extra:
            return self.collect_fold(cell, settings, cli)
        rows = super().collect(cell, settings, cli, run_dir)
        ranking = rank_suspects(cli.model, cli.datamodule)
        _save_ranking(ranking, cell.name, cell, settings)
        grids.save_cell_grid(ranking, cell, settings, cli.datamodule)
        rows += [make_row(cell.columns, k, v) for k, v in ranking_metrics(ranking).items()]
        if cell.extra.get("steps") is not None:
            rows += self.steps_rows(cell, settings, cli)
        return rows

    def steps_rows(self, cell: Cell, settings: Settings, cli: Any) -> list[Row]:
        """The ``<method>-steps`` ranking: fewest PGD steps to another class first, with the
        model's training attack's eps and step (``benign rank --score attack_steps``)."""
        from benign.rank.load import training_attack

        eps, step = training_attack(cli.model)
        if eps is None:
            return []
        spec = cell.extra["steps"]
        attack = StepsAttack(eps, float(spec.get("step_size") or step or eps / 4),
                             int(spec.get("max_steps", 20)))  # fmt: skip
        points = split_points(cli.datamodule, "train")
        table = ranking_table(score_points(cli.model, points, steps=attack, progress=False),
                              points, "attack_steps")  # fmt: skip
        method = cell.extra["method"].lower()
        name = cell.name.replace(method, f"{method}-steps", 1)
        # saved like the other rankings (``planted``), ordered by fewest steps (``score``)
        _save_ranking(table.rename(columns={"noisy": "planted"}), name, cell, settings)
        columns = {**cell.columns, "method": f"{cell.columns['method']}-steps"}
        return [make_row(columns, k, v) for k, v in precision_metrics(table).items()]

    def collect_fold(self, cell: Cell, settings: Settings, cli: Any) -> list[Row]:
        """Save the fold's out-of-sample probabilities; the fold completing its group runs
        cleanlab (:mod:`.mislabelled_folds`)."""
        extra = cell.extra
        folder = os.path.join(settings.out, "folds", extra["group"])
        positions, probs = folds.heldout_probabilities(cli.model, cli.datamodule)
        folds.save_fold(folder, extra["fold"], extra["key"], positions, probs)
        given = cli.datamodule.observed_targets.numpy()[positions]
        rows = [
            make_row(cell.columns, "fold_heldout_acc", float((probs.argmax(1) == given).mean()))
        ]
        complete = folds.completed_folds(folder, extra["folds"], extra["key"])
        if complete is None or not folds.claim(folder, extra["key"], cell.name):
            return rows
        ranking = folds.cleanlab_ranking(complete[1], complete[0], cli.datamodule)
        _save_ranking(ranking, extra["group"], cell, settings)
        metrics = {**ranking_metrics(ranking), **folds.flagged_metrics(ranking)}
        return rows + [make_row(cell.columns, k, v) for k, v in metrics.items()]

    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        return report.figure(results)

    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        real_labels = grids.real_label_grids(self.cells(settings), self.config(settings), settings)
        return report.summary(results, settings, self.command(settings), real_labels)


def _save_ranking(table: pd.DataFrame, name: str, cell: Cell, settings: Settings) -> None:
    """The top ``keep_ranked`` rows of a ranking in ``<out>/rankings/<name>.csv``."""
    folder = os.path.join(settings.out, "rankings")
    os.makedirs(folder, exist_ok=True)
    table.head(int(cell.extra["keep_ranked"])).to_csv(
        os.path.join(folder, f"{name}.csv"), index=False
    )


def _datamodule(cell: Cell) -> Any:
    """The logistic-regression cell's data module: its seed's training labels."""
    return grids.cell_datamodule(cell.extra["config"], cell.extra["data_args"], cell.columns)
