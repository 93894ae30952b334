"""What a DataModule's labels and splits are, as two frozen specifications.

:class:`LabelSpec` says how the training labels are made (label level, coarse map, noise) and
:class:`SplitSpec` which points form the validation hold-out and the training split. Both are
plain values: the label code (:mod:`benign.data.labels`, :mod:`benign.data.manifest`) takes them
and numpy arrays, never a DataModule. :func:`benign.data.options.check_label_options` and
:func:`~benign.data.options.check_split_options` build them from the user's options.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benign.data.noise import default_pairs
from benign.data.splits import resolve_count, split_rng, stratified_split


@dataclass(frozen=True)
class LabelSpec:
    """The training labels of one dataset: which level, which superclasses, which noise.

    Attributes:
        dataset: the dataset's short name (``digits``), for messages and the manifest.
        fine_names: the fine class names, in label order.
        label_level: ``fine`` or ``coarse``.
        coarse_map: each fine class's superclass index.
        coarse_names: the superclass names.
        coarse_map_name: the preset's name (``custom`` for an explicit list).
        noise_rate: share of training labels to corrupt, in [0, 1).
        noise_type: one of :data:`benign.data.noise.NOISE_TYPES`.
        noise_seed: seed of the noise draw.
        noise_classes: source classes of ``class_subset`` noise.
        noise_file: a file of observed fine labels (overrides rate and type), or ``None``.
        asymmetric_pairs: the dataset's ``(class, partner)`` pairs of asymmetric noise at fine
            level (``None``: ``c -> c + 1``).
    """

    dataset: str
    fine_names: tuple[str, ...]
    label_level: str
    coarse_map: tuple[int, ...]
    coarse_names: tuple[str, ...]
    coarse_map_name: str
    noise_rate: float
    noise_type: str
    noise_seed: int
    noise_classes: tuple[int, ...]
    noise_file: str | None = None
    asymmetric_pairs: tuple[tuple[int, int], ...] | None = None

    @property
    def fine_num_classes(self) -> int:
        """Number of fine classes."""
        return len(self.fine_names)

    @property
    def num_classes(self) -> int:
        """Number of classes at ``label_level``."""
        return self.fine_num_classes if self.label_level == "fine" else len(self.coarse_names)

    @property
    def label_names(self) -> list[str]:
        """Class names at ``label_level``."""
        return list(self.fine_names if self.label_level == "fine" else self.coarse_names)

    @property
    def coarse_array(self) -> np.ndarray:
        """The coarse map as an int64 array ``[fine_num_classes]``."""
        return np.asarray(self.coarse_map, dtype=np.int64)

    def to_level(self, fine_labels: np.ndarray) -> np.ndarray:
        """Fine labels -> int64 labels at ``label_level``."""
        fine_labels = np.asarray(fine_labels, dtype=np.int64)
        return self.coarse_array[fine_labels] if self.label_level == "coarse" else fine_labels

    def noise_pairs(self) -> dict[int, int]:
        """Partners of asymmetric noise: the dataset's pairs at fine level, else ``c -> c + 1``."""
        if self.label_level == "fine" and self.asymmetric_pairs is not None:
            return dict(self.asymmetric_pairs)
        return default_pairs(self.num_classes)


@dataclass(frozen=True)
class SplitSpec:
    """The validation hold-out and the training subset of the original training set.

    Attributes:
        val_split: count or fraction of the original training set held out as validation.
        train_subset: count or fraction of the rest kept for training (``None``: all of it).
        split_seed: seed of both draws.
        num_folds, holdout_fold: cross-fitting: the training split is cut into ``num_folds``
            random folds (seeded by ``split_seed``) and fold ``holdout_fold`` is not trained on
            (``None``: all of it is); the labels and positions of the split are unchanged.
    """

    val_split: int | float
    train_subset: int | float | None
    split_seed: int
    num_folds: int | None = None
    holdout_fold: int | None = None

    def fold_positions(self, n_train: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(trained, held out)`` positions of a training split of ``n_train`` points, both
        sorted (``None`` without a fold hold-out)."""
        if self.num_folds is None or self.holdout_fold is None:
            return None
        order = split_rng(self.split_seed, 3).permutation(n_train)
        held = np.zeros(n_train, dtype=bool)
        held[order[self.holdout_fold :: self.num_folds]] = True
        return np.flatnonzero(~held), np.flatnonzero(held)

    def sizes(self, n_total: int) -> tuple[int, int | None]:
        """Sizes of the validation hold-out and of ``train_subset`` (``None``: the whole pool)."""
        n_val = resolve_count(self.val_split, n_total, "val_split", allow_all=False)
        if self.train_subset is None:
            return n_val, None
        return n_val, resolve_count(
            self.train_subset, n_total - n_val, "train_subset", allow_all=True
        )

    def split(self, fine_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(validation, training)`` positions in the original training set, both stratified."""
        n_val, n_sub = self.sizes(len(fine_labels))
        val_idx, pool = stratified_split(fine_labels, n_val, split_rng(self.split_seed, 1))
        if n_sub is not None:
            taken, _ = stratified_split(fine_labels[pool], n_sub, split_rng(self.split_seed, 2))
            pool = pool[taken]
        return val_idx, pool
