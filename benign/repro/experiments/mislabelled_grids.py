"""E4's image grids: the top candidates of a ranking, planted flips framed, or on real labels
the points two rankings' tops share.

With planted noise a grid's frames say which candidates are planted flips. On real labels
(``noise_rate: 0``) nothing is known to be wrong: the first ranker's and cleanlab's top K of
seed 0 are drawn side by side, a blue frame marking a point both tops hold, and the summary
says how many they share. Neither grid claims an image is mislabelled: it shows them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Any

import pandas as pd

from benign.repro.base import Cell
from benign.repro.config import Settings, build_datamodule
from benign.repro.fit_cells import base_config, flatten
from benign.repro.mislabelled_ranking import candidate_grid

# The side-by-side real-label grids: file names in --out and the ranker of each.
REAL_LABEL_GRIDS = ("candidates.png", "candidates-cleanlab.png")


def grid_data_args(conf: Mapping[str, Any]) -> dict[str, Any]:
    """The grid's ``data.*`` arguments (``args`` of the experiment settings), unflattened one
    level: what every cell's data module is built with besides its noise."""
    return {
        key.split(".", 1)[1]: value
        for key, value in flatten(conf.get("args") or {}).items()
        if key.startswith("data.")
    }


def cell_datamodule(config: str, data_args: Mapping[str, Any], columns: Mapping[str, Any]) -> Any:
    """The data module of ``config`` with the grid's data arguments and a cell's noise: the
    same training points and labels as that cell's runs, set up for ``fit``."""
    data = base_config(config).get("data") or {}
    init = {**(data.get("init_args") or {}), **data_args}
    init.update(
        noise_rate=columns["noise_rate"],
        noise_type=columns["noise_type"],
        noise_seed=columns["seed"],
    )
    datamodule = build_datamodule({**data, "init_args": init})
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def save_cell_grid(ranking: pd.DataFrame, cell: Cell, settings: Settings, datamodule: Any) -> None:
    """``<out>/candidates/<cell>.png``: the cell's top candidates (copied to ``candidates.png``
    for the headline cell of a planted grid)."""
    count = int(cell.extra["candidates"])
    os.makedirs(os.path.join(settings.out, "candidates"), exist_ok=True)
    grid = os.path.join(settings.out, "candidates", f"{cell.name}.png")
    columns = cell.columns
    if columns["noise_rate"] > 0:
        title = (
            f"Top {count} suspects of {columns['method']} ({columns['noise_type']}, seed "
            f"{columns['seed']}): green = planted flip, red = label not changed"
        )
    else:
        title = (
            f"Top {count} of {columns['method']} on the real labels (nothing planted, seed "
            f"{columns['seed']}): the given label and the class the model suggests"
        )
    candidate_grid(ranking.head(count), datamodule, grid, title)
    if cell.extra["headline"] and columns["noise_rate"] > 0:
        shutil.copyfile(grid, os.path.join(settings.out, "candidates.png"))


def real_label_grids(cells: list[Cell], conf: Mapping[str, Any], settings: Settings) -> str | None:
    """On real labels: the headline ranker's and cleanlab's top K of seed 0 side by side
    (:data:`REAL_LABEL_GRIDS`), shared points framed blue; the summary's paragraph, or ``None``
    when either ranking is missing (cleanlab off, or the grid not finished)."""
    headline = next((c for c in cells if c.extra.get("headline")), None)
    if headline is None or headline.columns["noise_rate"] > 0:
        return None
    group = f"cleanlab-{headline.columns['noise_type']}-seed{headline.columns['seed']}"
    paths = [
        os.path.join(settings.out, "rankings", f"{name}.csv") for name in (headline.name, group)
    ]
    if not all(os.path.isfile(path) for path in paths):
        return None
    count = int(headline.extra["candidates"])
    tops = [pd.read_csv(path).head(count) for path in paths]
    shared = set(tops[0]["source_index"]) & set(tops[1]["source_index"])
    datamodule = cell_datamodule(
        conf["configs"][conf["rankers"][0]], grid_data_args(conf), headline.columns
    )
    if not (datamodule.train_source_indices.numpy()[tops[0]["position"]]
            == tops[0]["source_index"]).all():  # fmt: skip
        raise RuntimeError("E4 real-label grids: the rankings' positions are not this split's")
    names = (headline.columns["method"], "cleanlab")
    for top, name, other, file in zip(tops, names, names[::-1], REAL_LABEL_GRIDS, strict=True):
        title = (
            f"{name}: top {count} training points on the real labels (seed 0); blue = also in "
            f"{other}'s top {count}"
        )
        candidate_grid(top, datamodule, os.path.join(settings.out, file), title, also_in=shared)
    return (
        f"Nothing is planted: these are the real labels. The top {count} of {names[0]} "
        f"(candidates.png) and of cleanlab (candidates-cleanlab.png), seed 0: the given label "
        f"and the class each suggests; {len(shared)} of the {count} points are in both tops "
        "(blue frames). A grid shows candidates, not errors: look at each image.\n\n"
        f"![{names[0]}](candidates.png) ![cleanlab](candidates-cleanlab.png)"
    )
