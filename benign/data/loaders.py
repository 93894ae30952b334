"""DataLoader helpers shared by the DataModules and by callbacks that score whole splits."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence, Sized
from typing import Any

import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from benign.data.datasets import IndexedTensorDataset, collate_batch


class IndexSampler(Sampler[int]):
    """Yields a fixed list of dataset indices, in order (no shuffling, no padding)."""

    def __init__(self, indices: Sequence[int]) -> None:
        self.indices = [int(i) for i in indices]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class EpochShuffleSampler(RandomSampler):
    """A random permutation that is a function of ``(seed, epoch)`` only, not of global RNG state.

    Lightning calls :meth:`set_epoch` before every training epoch, so a run resumed at an epoch
    boundary sees exactly the batches of an uninterrupted one. Being a ``RandomSampler``, it is
    replaced by Lightning's (equally seeded) ``DistributedSampler`` under DDP.
    """

    def __init__(self, data_source: Sized, seed: int = 0) -> None:
        super().__init__(data_source)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(len(self.data_source), generator=generator).tolist())


def eval_indices(
    n: int, *, rank: int = 0, world_size: int = 1, max_samples: int | None = None
) -> np.ndarray:
    """The positions one rank scores: an optional fixed subset, sharded without repeats.

    The subset is the first ``max_samples`` of a permutation seeded with 0 (sorted), so every
    run and every rank agrees on it; rank ``r`` takes every ``world_size``-th point from ``r``.
    """
    indices = np.arange(n)
    if max_samples is not None and max_samples < n:
        indices = np.sort(np.random.default_rng(0).permutation(n)[:max_samples])
    return indices[rank::world_size]


def eval_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    rank: int = 0,
    world_size: int = 1,
    max_samples: int | None = None,
    num_workers: int = 0,
) -> DataLoader:
    """A loader that scores ``dataset`` once: no shuffle, no padding or repeated points.

    Args:
        dataset: an :class:`~benign.data.datasets.IndexedTensorDataset` (batches ``(x, y, index)``).
        batch_size: points per batch.
        rank, world_size: this process's shard; the shards of all ranks partition the points.
        max_samples: score only a fixed subset of this many points (the same on every run).
        num_workers: DataLoader worker processes.
    """
    indices = eval_indices(len(dataset), rank=rank, world_size=world_size, max_samples=max_samples)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=IndexSampler(indices),
        num_workers=num_workers,
        collate_fn=collate_batch,
        pin_memory=torch.cuda.is_available(),
    )


class SplitLoadersMixin:
    """The DataModule's ``*_dataloader`` hooks over its ``train/val/test_dataset`` splits.

    Expects ``train_dataset``, ``val_dataset``, ``test_dataset``, ``batch_size``,
    ``eval_batch_size``, ``num_workers``, ``pin_memory`` and Lightning's ``trainer``.
    """

    train_dataset: IndexedTensorDataset | None
    val_dataset: IndexedTensorDataset | None
    test_dataset: IndexedTensorDataset | None
    batch_size: int
    eval_batch_size: int
    num_workers: int
    pin_memory: bool
    trainer: Any

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches ``(x, y_observed, index)`` of the training split."""
        dataset = self.train_dataset
        if dataset is None:
            raise RuntimeError("call setup('fit') before train_dataloader()")
        # A trailing batch of one point breaks BatchNorm in train mode: drop it (reshuffled each epoch).
        drop_last = len(dataset) > self.batch_size and len(dataset) % self.batch_size == 1
        # The order is a function of (seed, epoch), and the loader draws its worker base seed
        # from its own generator: the global random stream of a resumed run stays in step.
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        sampler = EpochShuffleSampler(dataset, seed=seed)
        generator = torch.Generator().manual_seed(seed)
        return self._loader(
            dataset, self.batch_size, sampler=sampler, drop_last=drop_last, generator=generator
        )

    def val_dataloader(self) -> DataLoader:
        """The clean validation split, each point once (sharded over DDP ranks)."""
        return self._eval_loader(self.val_dataset, "val")

    def test_dataloader(self) -> DataLoader:
        """The clean test split, each point once (sharded over DDP ranks)."""
        return self._eval_loader(self.test_dataset, "test")

    def predict_dataloader(self) -> DataLoader:
        """Same as :meth:`test_dataloader`."""
        return self._eval_loader(self.test_dataset, "test")

    def _eval_loader(self, dataset: IndexedTensorDataset | None, split: str) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"call setup() before the {split} dataloader")
        sampler = None
        trainer = self.trainer
        if trainer is not None and trainer.world_size > 1:
            sampler = UnrepeatedDistributedSampler(
                dataset, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False
            )
        return self._loader(dataset, self.eval_batch_size, shuffle=False, sampler=sampler)

    def _loader(self, dataset: IndexedTensorDataset, batch_size: int, **kwargs: Any) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            collate_fn=collate_batch,
            **kwargs,
        )
