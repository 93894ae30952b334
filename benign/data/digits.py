"""scikit-learn's handwritten digits (1,797 images of 8x8): the offline default dataset."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch

from benign.data.base import BenignDataModule, RawSplits
from benign.data.coarse import halves_map, halves_names
from benign.data.splits import split_rng, stratified_split

#: The standard MNIST asymmetric pairs (Patrini et al., 2017): 2->7, 3->8, 5<->6, 7->1.
MNIST_ASYMMETRIC_PAIRS: dict[int, int] = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}
DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))


class DigitsDataModule(BenignDataModule):
    """scikit-learn ``load_digits``: 1,797 8x8 grey images, 10 classes, no download needed.

    Pixel values 0..16 are scaled to [0, 1] (float32 ``[N, 1, 8, 8]``). A fixed stratified
    70/30 train/test split (seeded by ``split_seed``) gives 1,257 training points (the
    validation hold-out comes out of these) and 540 test points. No augmentation.
    Coarse presets: ``halves`` (0-4 vs 5-9, default). Takes the base class's arguments.
    """

    name: ClassVar[str] = "digits"
    display_name: ClassVar[str] = "digits"
    fine_classes: ClassVar[tuple[str, ...]] = DIGIT_CLASSES
    image_shape: ClassVar[tuple[int, ...]] = (1, 8, 8)
    train_size: ClassVar[int | None] = 1257
    test_fraction: ClassVar[float] = 0.3
    coarse_map_presets: ClassVar[dict[str, list[int]]] = {"halves": halves_map(10)}
    coarse_class_names_presets: ClassVar[dict[str, list[str]]] = {"halves": halves_names(10)}
    default_coarse_map: ClassVar[str] = "halves"
    asymmetric_pairs: ClassVar[dict[int, int] | None] = MNIST_ASYMMETRIC_PAIRS

    def _load_raw(self) -> RawSplits:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)
        labels = np.asarray(digits.target, dtype=np.int64)
        n_test = math.ceil(self.test_fraction * len(labels))
        test_idx, train_idx = stratified_split(labels, n_test, split_rng(self.split_seed, 0))
        return RawSplits(
            train_images=images[torch.from_numpy(train_idx)],
            train_labels=labels[train_idx],
            test_images=images[torch.from_numpy(test_idx)],
            test_labels=labels[test_idx],
        )
