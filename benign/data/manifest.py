"""The noise manifest (``noise.npz``) and the checkpointed training labels.

The manifest records which training labels were flipped and how, for audits and plots. The
checkpoint state carries the training split and its observed labels, so a resumed run restores
exactly the labels it trained on instead of drawing them again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benign.data.labels import TrainingLabels
from benign.errors import ConfigError


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


class NoiseStateMixin:
    """``noise_manifest``, ``save_noise_manifest`` and ``state_dict``/``load_state_dict``.

    Mixed into :class:`~benign.data.base.BenignDataModule`, whose label attributes it reads.
    """

    def noise_manifest(self) -> dict[str, np.ndarray]:
        """Everything needed to audit or reproduce the training labels, as numpy arrays."""
        labels = self._require_labels()
        subset = "" if self.train_subset is None else str(self.train_subset)
        return {
            **labels.manifest(),
            "dataset": np.array(self.name),
            "noise_seed": np.array(self.noise_seed),
            "noise_rate": np.array(labels.noise_rate),
            "noise_type": np.array(labels.noise_type),
            "noise_file": np.array(self.noise_file or ""),
            "noise_classes": np.asarray(self.noise_classes, dtype=np.int64),
            "label_level": np.array(self.label_level),
            "num_classes": np.array(self.num_classes),
            "class_names": np.array(self.label_names),
            "coarse_map": self._coarse.copy(),
            "coarse_map_name": np.array(self.coarse_map_name),
            "train_subset": np.array(subset),
            "val_split": np.array(float(self.val_split)),
            "split_seed": np.array(self.split_seed),
        }

    def save_noise_manifest(self, path: str) -> None:
        """Write :meth:`noise_manifest` to ``path`` (``noise.npz``) atomically."""
        save_manifest(path, self.noise_manifest())

    def state_dict(self) -> dict[str, Any]:
        """The training split and its observed labels, so a resumed run never redraws noise."""
        if self._labels is None:
            return dict(self._pending_state or {})
        state = self._labels.state(self.label_level, self.num_classes)
        # what the model was trained on, for "checkpoint of digits cannot be tested on mnist5k"
        return {**state, "dataset": self.name, "input_shape": list(self.input_shape)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the saved training labels (now if set up, else at the next ``setup``)."""
        if not state_dict:
            return
        if self._labels is None:
            self._pending_state = dict(state_dict)
        else:
            self._apply_state(state_dict, computed_sources=self._labels.source_indices.numpy())
            self._announced = True
            self._log_noise(" [restored from checkpoint]")

    def _apply_state(self, state: dict[str, Any], computed_sources: np.ndarray) -> None:
        assert self._raw is not None
        restored = TrainingLabels.from_state(state, self, np.asarray(self._raw.train_labels))
        saved_true = state.get("true_targets")
        same_true = saved_true is None or np.array_equal(
            np.asarray(saved_true), restored.true_targets.numpy()
        )
        if not np.array_equal(restored.source_indices.numpy(), computed_sources) or not same_true:
            raise ConfigError(
                "the checkpoint was trained on another training split of "
                f"{self.name}: resume with the same data files, --data.split_seed, "
                "--data.val_split and --data.train_subset"
            )
        self._set_labels(restored)
