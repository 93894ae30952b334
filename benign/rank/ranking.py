"""Score every point of a split and order them: the table ``benign rank`` writes as ranking.csv.

Columns (INTERFACE.md, "benign rank output"): ``index`` (the point's index in the original
training set, or in the test set for ``--split test``), ``given_label``, ``suggested_label``
(the class the model prefers to the given one), ``score`` (the ranking's score), ``rank`` (1 =
most suspicious), then ``true_label`` and ``noisy`` when the run's labels were made noisy (the
noise manifest knows the clean label), one column per other computed score (``attack_steps``
or ``probability``) and ``position`` (the row of the split in the data module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from benign.data.loaders import eval_loader
from benign.rank.metrics import ranking_metrics
from benign.rank.scores import (
    attack_steps_to_flip,
    batch_probabilities,
    concat,
    disagreement_scores,
    suspected_labels,
    suspicion_order,
)


@dataclass(frozen=True)
class StepsAttack:
    """The attack of the ``attack_steps`` score (None: that score is not computed)."""

    eps: float
    step_size: float
    max_steps: int


@dataclass(frozen=True)
class SplitPoints:
    """One split of a data module: its dataset, indices and what is known of its labels."""

    name: str
    dataset: Any
    index: np.ndarray  # into the original train (train, val) or test set
    true: np.ndarray | None  # the clean labels, when the labels were made noisy
    noisy: np.ndarray | None


def split_points(datamodule: Any, split: str) -> SplitPoints:
    """The ``train``, ``val`` or ``test`` split of a set-up data module."""
    if split == "train":
        planted = bool(datamodule.noisy_mask.any()) or bool(datamodule.noise_file)
        return SplitPoints(
            split,
            datamodule.train_eval_dataset,
            datamodule.train_source_indices.numpy(),
            datamodule.true_targets.numpy() if planted else None,
            datamodule.noisy_mask.numpy() if planted else None,
        )
    dataset = datamodule.val_dataset if split == "val" else datamodule.test_dataset
    index = datamodule.val_source_indices.numpy() if split == "val" else np.arange(len(dataset))
    return SplitPoints(split, dataset, index, None, None)


def score_points(
    model: nn.Module,
    points: SplitPoints,
    batch_size: int = 512,
    steps: StepsAttack | None = None,
    progress: bool | None = None,
) -> dict[str, np.ndarray]:
    """Every point's given label, probabilities' score and suggestion, and (with ``steps``) its
    attack steps: arrays in split order (``position``)."""
    was_training = model.training
    model.eval()
    out: dict[str, list[torch.Tensor]] = {"position": [], "given": [], "probs": []}
    if steps is not None:
        out.update(attack_steps=[], reached=[])
    loader = eval_loader(points.dataset, batch_size)
    try:
        for x, y, position in tqdm(
            loader,
            desc=f"benign rank: scoring the {points.name} split",
            disable=None if progress is None else not progress,
        ):
            out["position"].append(position.cpu())
            out["given"].append(y.cpu())
            out["probs"].append(batch_probabilities(model, x))
            if steps is not None:
                count, reached = attack_steps_to_flip(
                    model, x, y, steps.eps, steps.step_size, steps.max_steps
                )
                out["attack_steps"].append(count)
                out["reached"].append(reached)
    finally:
        model.train(was_training)
    arrays = {key: concat(value) for key, value in out.items()}
    probs, given = arrays.pop("probs"), arrays["given"]
    arrays["probability"] = disagreement_scores(probs, given)
    arrays["suggested"] = suspected_labels(probs, given)
    if steps is not None:  # the class the attack reached, where it flipped the point
        reached = arrays.pop("reached")
        flipped = arrays["attack_steps"] <= steps.max_steps
        arrays["suggested"] = np.where(flipped, reached, arrays["suggested"])
    return arrays


def ranking_table(arrays: dict[str, np.ndarray], points: SplitPoints, score: str) -> pd.DataFrame:
    """The ranking.csv table of :func:`score_points`' arrays, most suspicious first."""
    position = arrays["position"]
    columns: dict[str, Any] = {
        "index": points.index[position],
        "given_label": arrays["given"],
        "suggested_label": arrays["suggested"],
        "score": arrays[score],
    }
    if points.true is not None and points.noisy is not None:
        columns.update(true_label=points.true[position], noisy=points.noisy[position])
    for other in ("probability", "attack_steps"):
        if other != score and other in arrays:
            columns[other] = arrays[other]
    columns["position"] = position
    frame = pd.DataFrame(columns).iloc[suspicion_order(arrays, score)].reset_index(drop=True)
    frame.insert(4, "rank", np.arange(1, len(frame) + 1))
    return frame


def precision_metrics(ranking: pd.DataFrame) -> dict[str, float]:
    """E4's scores of a ranking with a ``noisy`` column, by its order alone (so a ranking by
    fewest attack steps is scored like one by highest probability): precision@k at
    ``k = n_noisy // 2``, precision@n_noisy, recall@2n_noisy and average precision."""
    if "noisy" not in ranking:
        return {}
    ordered = pd.DataFrame(
        {"planted": ranking["noisy"].to_numpy(), "score": -ranking["rank"].to_numpy()}
    )
    return ranking_metrics(ordered)
