"""Finding mislabelled training points: rank them by how confidently a model disagrees.

PAPER.md, E4 (Sanyal et al., ICLR 2021, Sec. 3): robustly trained models do not fit (most)
wrong labels, so a training point whose given label a robust model confidently rejects is a
candidate for a labelling error. This is how to look for real mislabelled MNIST/CIFAR images::

    from benign.data import MNISTDataModule
    from benign.methods import AdversarialTraining
    from benign.repro.mislabelled_ranking import rank_suspects, candidate_grid

    model = AdversarialTraining.load_from_checkpoint("runs/.../checkpoints/last.ckpt")
    data = MNISTDataModule(data_dir="data")
    data.setup("fit")
    ranking = rank_suspects(model, data)          # most suspicious first
    candidate_grid(ranking.head(32), data, "candidates.png")

The score of a point is the highest probability the model gives to a class other than its
given label (``max_{c != y} p(c | x)``, :func:`benign.rank.scores.disagreement_scores`). :func:`cross_val_suspects` is the cleanlab-style
baseline: the same score from out-of-sample probabilities of a logistic regression
(``sklearn.model_selection.cross_val_predict``), no network involved.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from benign.data.loaders import eval_loader
from benign.rank.metrics import precision_at_k, ranking_metrics
from benign.rank.scores import batch_probabilities, disagreement_scores, suspected_labels
from benign.repro.plots import image_grid

# The scores and metrics live in benign.rank (``benign rank`` uses the same ones); they are
# re-exported here for the experiment and its users.
__all__ = [
    "candidate_grid",
    "cross_val_suspects",
    "disagreement_scores",
    "precision_at_k",
    "predict_probabilities",
    "rank_suspects",
    "ranking_frame",
    "ranking_metrics",
    "suspected_labels",
]


def _training_points(datamodule: Any, batch_size: int) -> torch.utils.data.DataLoader:
    if getattr(datamodule, "train_eval_dataset", None) is None:
        datamodule.setup("fit")
    return eval_loader(datamodule.train_eval_dataset, batch_size)


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, datamodule: Any, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities ``[N, K]`` and split positions ``[N]`` over the training split."""
    was_training = model.training
    model.eval()
    probs, positions = [], []
    try:
        for x, _, index in _training_points(datamodule, batch_size):
            probs.append(batch_probabilities(model, x))
            positions.append(index.cpu())
    finally:
        model.train(was_training)
    return torch.cat(probs).numpy(), torch.cat(positions).numpy()


def ranking_frame(probs: np.ndarray, positions: np.ndarray, datamodule: Any) -> pd.DataFrame:
    """The ranking table: one row a training point, most suspicious first.

    Columns: ``position`` (index into the training split), ``source_index`` (into the original
    training set), ``given`` (observed label), ``predicted`` (argmax), ``suspected`` (the most
    probable class other than ``given``) and ``score`` (its probability), ``true`` and
    ``planted`` (whether the given label was made noisy by the data module).
    """
    given = datamodule.observed_targets.numpy()[positions]
    frame = pd.DataFrame(
        {
            "position": positions,
            "source_index": datamodule.train_source_indices.numpy()[positions],
            "given": given,
            "predicted": probs.argmax(axis=1),
            "suspected": suspected_labels(probs, given),
            "score": disagreement_scores(probs, given),
            "true": datamodule.true_targets.numpy()[positions],
            "planted": datamodule.noisy_mask.numpy()[positions],
        }
    )
    return frame.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def rank_suspects(model: nn.Module, datamodule: Any, batch_size: int = 512) -> pd.DataFrame:
    """Rank the training points of ``datamodule`` by ``model``'s confident disagreement."""
    probs, positions = predict_probabilities(model, datamodule, batch_size)
    return ranking_frame(probs, positions, datamodule)


def cross_val_suspects(
    datamodule: Any, folds: int = 5, seed: int = 0, batch_size: int = 2048
) -> pd.DataFrame:
    """The cleanlab-style baseline: out-of-sample probabilities of a standardised logistic
    regression on raw pixels (``folds``-fold ``cross_val_predict``), same score and table."""
    xs, ys, positions = [], [], []
    for x, y, index in _training_points(datamodule, batch_size):
        xs.append(x.flatten(1).numpy())
        ys.append(y.numpy())
        positions.append(index.numpy())
    x, y, position = np.concatenate(xs), np.concatenate(ys), np.concatenate(positions)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probs = cross_val_predict(classifier, x, y, cv=splitter, method="predict_proba")
    full = np.zeros((len(y), datamodule.num_classes))
    full[:, np.unique(y)] = probs  # classes absent from the labels keep probability 0
    return ranking_frame(full, position, datamodule)


def candidate_grid(
    ranking: pd.DataFrame,
    datamodule: Any,
    path: str,
    title: str | None = None,
    also_in: set[int] | None = None,
) -> None:
    """Save the images of ``ranking``'s rows with their given label and the class the model
    prefers to it (with its probability, the score).

    With planted noise, a green frame marks a planted flip and red a label the data module did
    not change. On real labels (nothing planted) nothing is known to be wrong, so the frame only
    says whether the point is also in another ranking's top (``also_in``: source indices):
    blue if it is, grey if not."""
    dataset = datamodule.train_eval_dataset
    names = list(datamodule.label_names)
    planted = bool(datamodule.noisy_mask.any())  # (the ranking's "planted" column is a slice of it)
    images, titles, colors = [], [], []
    for row in ranking.itertuples(index=False):
        x, _, _ = dataset.__getitems__([int(row.position)])
        images.append(x[0].numpy())
        if planted:
            titles.append(
                f"given {names[row.given]}\nmodel: {names[row.suspected]} ({row.score:.2f})"
            )
            colors.append("tab:green" if row.planted else "tab:red")
        else:
            titles.append(
                f"given {names[row.given]}\nsuggested {names[row.suspected]} ({row.score:.2f})"
            )
            colors.append("tab:blue" if also_in and int(row.source_index) in also_in else "0.6")
    image_grid(images, titles, path, colors=colors, suptitle=title)
