"""E4's cleanlab baseline: out-of-sample probabilities from K fold cells, then cleanlab.

Each fold is a ``benign fit`` cell of the same network trained by ERM (the project's own fit
path, so folds use the launchers and resume like any cell) on the training split minus one
fold (``--data.num_folds K --data.holdout_fold i``: same labels, same noise). A fold cell saves
its model's probabilities on its held-out points in ``<out>/folds/<group>/fold<i>.npz``; the
fold cell that completes the set (whichever finishes last, claimed atomically, so the rows are
made once even with parallel workers) runs cleanlab on the assembled out-of-sample
probabilities (Northcutt et al., 2021, "Confident learning"): the ranking is by cleanlab's
label quality score (``cleanlab.rank.get_label_quality_scores``, self-confidence; lowest quality
first) and ``cleanlab.filter.find_label_issues`` says which points it flags.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from benign.rank.scores import batch_probabilities
from benign.repro.mislabelled_ranking import ranking_frame


def group_key(args: Sequence[str]) -> str:
    """What the K fold cells of one group share: their arguments but the fold's number."""
    masked = list(args)
    for i, arg in enumerate(masked[:-1]):
        if arg == "--data.holdout_fold":
            masked[i + 1] = "*"
    return hashlib.sha1(json.dumps(masked).encode()).hexdigest()[:16]


@torch.no_grad()
def heldout_probabilities(model: Any, datamodule: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(positions, probabilities)`` of the fold model on the points it did not train on."""
    dataset = datamodule.train_eval_dataset
    _, held = datamodule.split_spec.fold_positions(len(dataset))
    was_training = model.training
    model.eval()
    probs = []
    try:
        for start in range(0, len(held), 512):
            x, _, _ = dataset.__getitems__(held[start : start + 512].tolist())
            probs.append(batch_probabilities(model, x))
    finally:
        model.train(was_training)
    return held, torch.cat(probs).numpy()


def save_fold(folder: str, fold: int, key: str, positions: np.ndarray, probs: np.ndarray) -> None:
    """Write one fold's held-out probabilities atomically."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"fold{fold}.npz")
    temporary = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(temporary, key=np.array(key), positions=positions, probs=probs)
    os.replace(temporary, path)


def completed_folds(folder: str, num_folds: int, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """All folds' ``(positions, probabilities)`` in position order, or None while a fold of
    this group (same ``key``) is missing."""
    positions, probs = [], []
    for fold in range(num_folds):
        path = os.path.join(folder, f"fold{fold}.npz")
        if not os.path.isfile(path):
            return None
        with np.load(path) as saved:
            if str(saved["key"]) != key:
                return None  # left by a grid with other settings
            positions.append(saved["positions"])
            probs.append(saved["probs"])
    position = np.concatenate(positions)
    order = np.argsort(position, kind="stable")
    return position[order], np.concatenate(probs)[order]


def claim(folder: str, key: str, cell_name: str) -> bool:
    """Whether ``cell_name`` makes the group's cleanlab rows: the first to claim does (and
    does again when it is rerun); the claim file is atomic (``open(..., "x")``)."""
    path = os.path.join(folder, f"claim-{key}")
    try:
        with open(path, "x") as handle:
            handle.write(cell_name)
        return True
    except FileExistsError:
        with open(path) as handle:
            return handle.read().strip() == cell_name


def cleanlab_ranking(probs: np.ndarray, positions: np.ndarray, datamodule: Any) -> pd.DataFrame:
    """The ranking table of :func:`benign.repro.mislabelled_ranking.ranking_frame`, scored by
    cleanlab: ``score = 1 - label quality`` (self-confidence), ``flagged`` by
    ``find_label_issues``; lowest quality first."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    given = datamodule.observed_targets.numpy()[positions]
    quality = get_label_quality_scores(given, probs, method="self_confidence")
    # n_jobs=1: its process pool fails inside a spawned grid worker (a NameError in cleanlab)
    flagged = find_label_issues(given, probs, n_jobs=1)
    frame = ranking_frame(probs, positions, datamodule)
    frame["score"] = frame["position"].map(pd.Series(1.0 - quality, index=positions))
    frame["flagged"] = frame["position"].map(pd.Series(flagged, index=positions))
    return frame.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def flagged_metrics(ranking: pd.DataFrame) -> dict[str, float]:
    """How many points cleanlab flags, and the share of planted flips among them."""
    flagged = ranking["flagged"].astype(bool)
    n = int(flagged.sum())
    metrics = {"n_flagged": float(n)}
    if n and ranking["planted"].any():
        metrics["precision_flagged"] = float(ranking.loc[flagged, "planted"].mean())
        metrics["recall_flagged"] = float(ranking.loc[flagged, "planted"].sum()) / float(
            ranking["planted"].sum()
        )
    return metrics
