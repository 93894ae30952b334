"""What ``benign rank`` writes: ranking.csv, candidates.png and summary.md, all or nothing.

The files are written into a fresh temporary folder next to ``--out`` and moved into place
once all three exist, so a failure part-way leaves ``--out`` as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

import pandas as pd

from benign.errors import ConfigError
from benign.rank.ranking import SplitPoints, precision_metrics
from benign.repro.plots import image_grid
from benign.repro.tables import markdown_table

OUTPUTS = ("ranking.csv", "candidates.png", "summary.md")


def check_out(out: str) -> None:
    """``--out`` must be a folder (or not exist yet) inside a writable folder."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--out {out} is a file, not a folder: pass a folder path")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise ConfigError(f"--out {out}: its parent folder {parent} does not exist: create it")
    if not os.access(parent, os.W_OK) or (os.path.isdir(out) and not os.access(out, os.W_OK)):
        raise ConfigError(f"--out {out} is not writable: pass a folder you can write to")


def candidate_titles(ranking: pd.DataFrame, names: Sequence[str], score: str) -> list[str]:
    """One title a candidate: its index, given and suggested class names and its score."""
    shown = "{:.3g}" if score == "probability" else "{:g} steps"
    return [
        f"#{row.index}: given {names[row.given_label]}\n"
        f"suggested {names[row.suggested_label]} ({shown.format(row.score)})"
        for row in ranking.itertuples(index=False)
    ]


def draw_candidates(
    ranking: pd.DataFrame, points: SplitPoints, names: Sequence[str], score: str, path: str
) -> None:
    """The top rows' images; when the run's noise manifest holds noisy labels, green = a noisy
    label, red = a clean one (on real labels, nothing planted, the frames stay neutral)."""
    images = [points.dataset.__getitems__([int(p)])[0][0].numpy() for p in ranking["position"]]
    colors = None
    title = f"Top {len(ranking)} suspects of the {points.name} split by {score}"
    if "noisy" in ranking and points.noisy is not None and bool(points.noisy.any()):
        colors = ["tab:green" if flag else "tab:red" for flag in ranking["noisy"]]
        title += ": green = noisy label in the manifest, red = clean"
    image_grid(images, candidate_titles(ranking, names, score), path, colors, suptitle=title)


def summary_text(ranking: pd.DataFrame, info: dict[str, Any]) -> str:
    """The short summary.md: what was ranked, how, and (with planted noise) how well."""
    lines = [
        f"# benign rank: {info['split']} split of {info['ckpt_path']}",
        "",
        f"Command: `{info['command']}`",
        "",
        f"{len(ranking)} points ranked by `{info['score']}` ({info['score_help']}); "
        f"the top {info['top']} are in candidates.png.",
    ]
    metrics = precision_metrics(ranking)
    if metrics:
        lines += [
            "",
            f"Against the run's noise manifest ({int(metrics['n_planted'])} noisy labels, "
            f"k = {int(metrics['k'])}):",
            "",
            "| precision@k | precision@n | recall@2n | average precision |",
            "| --- | --- | --- | --- |",
            f"| {metrics['precision_at_k']:.3f} | {metrics['precision_at_n']:.3f} | "
            f"{metrics['recall_at_2n']:.3f} | {metrics['average_precision']:.3f} |",
        ]
    head = ranking.head(10).drop(columns=["position"])
    lines += ["", "Top 10:", "", markdown_table(head), ""]
    return "\n".join(lines)


def write_outputs(
    out: str, ranking: pd.DataFrame, points: SplitPoints, names: Sequence[str],
    info: dict[str, Any],
) -> None:  # fmt: skip
    """Write the three files into ``out`` together (see the module docstring)."""
    parent = os.path.dirname(os.path.abspath(out))
    staging = tempfile.mkdtemp(prefix=".benign-rank-", dir=parent)
    try:
        ranking.to_csv(os.path.join(staging, "ranking.csv"), index=False)
        top = ranking.head(info["top"])
        draw_candidates(top, points, names, info["score"], os.path.join(staging, "candidates.png"))
        with open(os.path.join(staging, "summary.md"), "w") as handle:
            handle.write(summary_text(ranking, info))
        os.makedirs(out, exist_ok=True)
        for name in OUTPUTS:
            os.replace(os.path.join(staging, name), os.path.join(out, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
