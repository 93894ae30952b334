"""In-memory datasets that hand out whole batches, and batched augmentation.

Every split is an :class:`IndexedTensorDataset`: images kept as one uint8 (or float) tensor,
converted to float in [0, 1] a batch at a time. The DataLoader's fetcher calls
``__getitems__(indices)`` when a dataset has it; ours returns the finished batch
``(x, y, index)``, so the loader must use :func:`collate_batch`, which passes it through.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from benign.errors import ConfigError

Batch = tuple[Tensor, Tensor, Tensor]


class RawSplits(NamedTuple):
    """A dataset's original train/test arrays: images ``[N, ...]`` and fine labels ``[N]``."""

    train_images: Tensor
    train_labels: np.ndarray
    test_images: Tensor
    test_labels: np.ndarray


def check_raw_labels(raw: RawSplits, num_classes: int, dataset: str, data_dir: str) -> np.ndarray:
    """The original training labels as int64, once both splits' labels are in ``0..K-1``."""
    labels = np.asarray(raw.train_labels, dtype=np.int64)
    for split, values in (("training", labels), ("test", raw.test_labels)):
        if len(values) and not 0 <= values.min() <= values.max() < num_classes:
            raise ConfigError(
                f"{dataset} {split} labels must be in 0..{num_classes - 1}: the files "
                f"in {data_dir} do not match this dataset"
            )
    return labels


def to_float(images: Tensor) -> Tensor:
    """uint8 images -> float32 in [0, 1] (divide by 255); float inputs are returned as float32."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


class RandomCropFlip:
    """Batched random crop with zero padding plus horizontal flip (the standard CIFAR recipe).

    Each image of the batch gets its own random offsets and flip, drawn from ``generator``:
    :class:`IndexedTensorDataset` passes one seeded from the run's seed and the batch's indices,
    so a batch is augmented the same way whichever process (main or worker) makes it and however
    often it is made (a run resumed mid-epoch re-makes the batch it had prefetched). Without a
    generator, torch's global one is used. Works on ``[B, C, H, W]`` tensors of any dtype.

    Args:
        padding: zero padding on each side before cropping back to ``H x W`` (CIFAR: 4).
        flip: whether to flip each image horizontally with probability 1/2.
    """

    def __init__(self, padding: int = 4, flip: bool = True) -> None:
        self.padding = padding
        self.flip = flip

    #: :class:`IndexedTensorDataset` passes a per-batch ``generator``.
    takes_generator = True

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        batch, _, height, width = images.shape
        if self.padding > 0:
            pad = self.padding
            padded = F.pad(images, (pad, pad, pad, pad)).permute(0, 2, 3, 1)
            top = torch.randint(0, 2 * pad + 1, (batch,), generator=generator)
            left = torch.randint(0, 2 * pad + 1, (batch,), generator=generator)
            rows = (top[:, None] + torch.arange(height))[:, :, None]
            cols = (left[:, None] + torch.arange(width))[:, None, :]
            images = padded[torch.arange(batch)[:, None, None], rows, cols].permute(0, 3, 1, 2)
        if self.flip:
            flip = torch.rand(batch, generator=generator) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(3), images)
        return images.contiguous()

    def __repr__(self) -> str:
        return f"RandomCropFlip(padding={self.padding}, flip={self.flip})"


def batch_generator(index: Tensor) -> torch.Generator:
    """A generator seeded from the run's seed (``PL_GLOBAL_SEED``) and a batch's indices, in
    order: the augmentation of a batch is a function of the batch (a new epoch's permutation
    makes new batches, hence new draws)."""
    digest = hashlib.blake2b(index.numpy().astype(np.int64).tobytes(), digest_size=8)
    digest.update(os.environ.get("PL_GLOBAL_SEED", "0").encode())
    return torch.Generator().manual_seed(int.from_bytes(digest.digest(), "little") % 2**63)


class IndexedTensorDataset(Dataset):
    """A labelled split held in memory; items are ``(x, y, index)``.

    Args:
        images: ``[N, ...]`` uint8 images (scaled by 1/255 on the fly) or float inputs in [0, 1].
        targets: ``[N]`` labels (the observed labels for the training split).
        augment: optional batched transform applied to the raw ``[B, ...]`` images before the
            float conversion (e.g. :class:`RandomCropFlip`).

    ``index`` is the position in this dataset: for the training split the same index as the
    DataModule's ``true_targets`` / ``observed_targets`` / ``noisy_mask``.
    """

    def __init__(
        self,
        images: Tensor,
        targets: Tensor,
        augment: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        self.images = images
        self.targets = torch.as_tensor(targets, dtype=torch.long)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.targets)

    def __getitems__(self, indices: Sequence[int] | Tensor) -> Batch:
        """The collated batch ``(x float [B, ...] in [0, 1], y long [B], index long [B])``."""
        index = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        images = self.images[index]
        if self.augment is not None:
            if getattr(self.augment, "takes_generator", False):
                images = self.augment(images, generator=batch_generator(index))
            else:
                images = self.augment(images)
        return to_float(images), self.targets[index], index

    def __getitem__(self, index: int) -> Batch:
        x, y, i = self.__getitems__([int(index)])
        return x[0], y[0], i[0]

    def __repr__(self) -> str:
        shape = tuple(self.images.shape[1:])
        return f"IndexedTensorDataset(n={len(self)}, shape={shape}, augment={self.augment!r})"


def collate_batch(batch: Batch | list[Batch]) -> Batch:
    """Collate for :class:`IndexedTensorDataset` loaders: passes a ready batch through.

    A list of single samples (from a sampler that bypasses ``__getitems__``) is stacked.
    Module-level, so it pickles to worker processes.
    """
    if isinstance(batch, tuple):
        return batch
    xs, ys, idx = zip(*batch, strict=True)
    return torch.stack(xs), torch.stack(ys), torch.stack(idx)
