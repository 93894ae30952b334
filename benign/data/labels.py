"""The training split's labels: true, observed (possibly noisy), which are noisy, and where from.

Functions of a :class:`~benign.data.spec.LabelSpec` and plain arrays: :func:`draw_training_labels`
makes the labels of a training split, :func:`restore_training_labels` rebuilds them from a
checkpoint's state and checks it fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from benign.data.noise import load_label_file
from benign.data.noise_input import draw_noise
from benign.data.spec import LabelSpec
from benign.errors import ConfigError


@dataclass
class TrainingLabels:
    """Labels of the training split, all indexed by position in the split.

    Attributes:
        source_indices: LongTensor, each point's index in the original training set.
        true_targets: LongTensor, the clean labels at the training label level.
        observed_targets: LongTensor, the labels trained on.
        noisy_mask: BoolTensor, ``observed_targets != true_targets``.
        fine_targets: LongTensor, the clean fine labels (equal to ``true_targets`` at fine level).
        noise_info: extra manifest fields of the noise kind (e.g. ``instance``'s reference model).
    """

    source_indices: Tensor
    true_targets: Tensor
    observed_targets: Tensor
    noisy_mask: Tensor
    fine_targets: Tensor
    noise_type: str
    noise_rate: float
    noise_info: dict[str, Any] = field(default_factory=dict)

    def summary(self, noise_file: str | None = None) -> str:
        """One log line, e.g. ``noise: symmetric, rate 0.20 requested, 0.200 realised (...)``."""
        n, flipped = len(self.noisy_mask), int(self.noisy_mask.sum())
        realised = flipped / n if n else 0.0
        if noise_file:
            head = f"noise: from file {noise_file}"
        else:
            head = f"noise: {self.noise_type}, rate {self.noise_rate:.2f} requested"
        return f"{head}, {realised:.3f} realised ({flipped} of {n} training labels flipped)"

    def manifest(self) -> dict[str, np.ndarray]:
        """The per-point arrays of the noise manifest."""
        n = len(self.noisy_mask)
        return {
            "noisy_indices": torch.nonzero(self.noisy_mask).flatten().numpy(),
            "noisy_mask": self.noisy_mask.numpy(),
            "true_labels": self.true_targets.numpy(),
            "observed_labels": self.observed_targets.numpy(),
            "fine_true_labels": self.fine_targets.numpy(),
            "source_indices": self.source_indices.numpy(),
            "realised_noise_rate": np.array(float(self.noisy_mask.sum()) / n if n else 0.0),
            **{name: np.array(value) for name, value in self.noise_info.items()},
        }

    def state(self, label_level: str, num_classes: int) -> dict[str, Any]:
        """Checkpoint state (tensors and plain values only, loadable with ``weights_only``)."""
        return {
            "source_indices": self.source_indices.clone(),
            "observed_targets": self.observed_targets.clone(),
            "true_targets": self.true_targets.clone(),
            "noisy_mask": self.noisy_mask.clone(),
            "label_level": label_level,
            "num_classes": num_classes,
            "noise_type": self.noise_type,
            "noise_rate": self.noise_rate,
            "noise_info": dict(self.noise_info),
        }


def draw_training_labels(
    spec: LabelSpec,
    fine_labels: np.ndarray,
    sources: np.ndarray,
    images: Any = None,
    cache_dir: str | None = None,
) -> TrainingLabels:
    """Draw the observed labels of the training points ``sources`` as ``spec`` says.

    Args:
        spec: the label level and the noise.
        fine_labels: fine labels of the whole original training set.
        sources: positions of the training split in it.
        images: images of the whole original training set (input-dependent noise kinds).
        cache_dir: where input-dependent noise caches what it trains (the data_dir).
    """
    fine = np.asarray(fine_labels, dtype=np.int64)[sources]
    true = spec.to_level(fine)
    info: dict[str, Any] = {}
    if spec.noise_file is not None:
        observed = spec.to_level(_file_labels(spec, len(fine_labels), sources))
    else:
        split_images = None if images is None else np.asarray(images[np.asarray(sources)])
        observed, info = draw_noise(true, spec, split_images, cache_dir)
    true_t, observed_t = torch.from_numpy(true), torch.from_numpy(observed)
    return TrainingLabels(
        source_indices=torch.from_numpy(np.asarray(sources, dtype=np.int64)),
        true_targets=true_t,
        observed_targets=observed_t,
        noisy_mask=observed_t != true_t,
        fine_targets=torch.from_numpy(fine),
        noise_type="file" if spec.noise_file else spec.noise_type,
        noise_rate=spec.noise_rate,
        noise_info=info,
    )


def restore_training_labels(
    spec: LabelSpec,
    state: dict[str, Any],
    fine_labels: np.ndarray,
    sources: np.ndarray,
    data_dir: str,
) -> TrainingLabels:
    """Rebuild the labels saved by :meth:`TrainingLabels.state`, refusing a state that does not
    fit: another label level, other dataset files (``data_dir``) or another training split than
    ``sources``, the one this run's options select."""
    if state.get("num_classes") != spec.num_classes or state.get("label_level") != spec.label_level:
        raise ConfigError(
            f"the checkpoint's labels are {state.get('label_level')} with "
            f"{state.get('num_classes')} classes but this run uses {spec.label_level} with "
            f"{spec.num_classes}: resume with the same --data.label_level and coarse_map"
        )
    saved_sources = torch.as_tensor(state["source_indices"], dtype=torch.long)
    observed = torch.as_tensor(state["observed_targets"], dtype=torch.long)
    if len(saved_sources) != len(observed) or (
        len(saved_sources) and int(saved_sources.max()) >= len(fine_labels)
    ):
        raise ConfigError(
            f"the checkpoint's training split does not fit {spec.dataset} in {data_dir}: "
            "resume on the same dataset files"
        )
    fine = torch.as_tensor(fine_labels[saved_sources.numpy()], dtype=torch.long)
    true = torch.from_numpy(spec.to_level(fine.numpy()))
    saved_true = state.get("true_targets")
    same_true = saved_true is None or np.array_equal(np.asarray(saved_true), true.numpy())
    if not np.array_equal(saved_sources.numpy(), sources) or not same_true:
        raise ConfigError(
            "the checkpoint was trained on another training split of "
            f"{spec.dataset}: resume with the same data files, --data.split_seed, "
            "--data.val_split and --data.train_subset"
        )
    return TrainingLabels(
        saved_sources,
        true,
        observed,
        observed != true,
        fine,
        str(state.get("noise_type", spec.noise_type)),
        float(state.get("noise_rate", spec.noise_rate)),
        dict(state.get("noise_info") or {}),
    )


def _file_labels(spec: LabelSpec, n_original: int, sources: np.ndarray) -> np.ndarray:
    """Fine labels from ``noise_file``, for the original training set or for the split."""
    assert spec.noise_file is not None
    labels = load_label_file(spec.noise_file)
    if len(labels) == n_original:
        labels = labels[sources]
    elif len(labels) != len(sources):
        raise ConfigError(
            f"noise_file {spec.noise_file} has {len(labels)} labels but {spec.dataset} has "
            f"{n_original} training points ({len(sources)} in the training split): write one "
            "label per training point"
        )
    outside = labels[(labels < 0) | (labels >= spec.fine_num_classes)]
    if len(outside):
        raise ConfigError(
            f"noise_file {spec.noise_file} holds {len(outside)} labels outside "
            f"0..{spec.fine_num_classes - 1} (e.g. {int(outside[0])}): write fine class indices"
        )
    return labels
