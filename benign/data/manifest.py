"""The noise manifest (``noise.npz``) and the checkpointed training labels.

The manifest records which training labels were flipped and how, for audits and plots. The
checkpoint state carries the training split and its observed labels, so a resumed run restores
exactly the labels it trained on instead of drawing them again
(:func:`benign.data.labels.restore_training_labels`). Both are functions of the specifications
and the labels, not of a DataModule.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benign.data.labels import TrainingLabels
from benign.data.spec import LabelSpec, SplitSpec


def save_manifest(path: str | os.PathLike, manifest: Mapping[str, np.ndarray]) -> None:
    """Write ``manifest`` as an ``.npz`` atomically (temporary file, then ``os.replace``).

    A crash never leaves a half-written file under ``path``; every array is stored without
    pickling, so ``np.load(path)`` reads it with the default ``allow_pickle=False``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **{k: np.asarray(v) for k, v in manifest.items()})
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def noise_manifest(
    spec: LabelSpec, split: SplitSpec, labels: TrainingLabels
) -> dict[str, np.ndarray]:
    """Everything needed to audit or reproduce the training labels, as numpy arrays."""
    subset = "" if split.train_subset is None else str(split.train_subset)
    return {
        **labels.manifest(),
        "dataset": np.array(spec.dataset),
        "noise_seed": np.array(spec.noise_seed),
        "noise_rate": np.array(labels.noise_rate),
        "noise_type": np.array(labels.noise_type),
        "noise_file": np.array(spec.noise_file or ""),
        "noise_classes": np.asarray(spec.noise_classes, dtype=np.int64),
        "label_level": np.array(spec.label_level),
        "num_classes": np.array(spec.num_classes),
        "class_names": np.array(spec.label_names),
        "coarse_map": spec.coarse_array,
        "coarse_map_name": np.array(spec.coarse_map_name),
        "train_subset": np.array(subset),
        "val_split": np.array(float(split.val_split)),
        "split_seed": np.array(split.split_seed),
    }


def checkpoint_state(
    spec: LabelSpec, labels: TrainingLabels, input_shape: tuple[int, ...]
) -> dict[str, Any]:
    """The labels' checkpoint state, with what the model was trained on (dataset, input shape)
    so that a checkpoint of digits is refused on mnist5k before anything runs."""
    state = labels.state(spec.label_level, spec.num_classes)
    return {**state, "dataset": spec.dataset, "input_shape": list(input_shape)}
