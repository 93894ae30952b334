"""DataLoader helpers shared by the DataModules and by callbacks that score whole splits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from benign.data.datasets import collate_batch


class IndexSampler(Sampler[int]):
    """Yields a fixed list of dataset indices, in order (no shuffling, no padding)."""

    def __init__(self, indices: Sequence[int]) -> None:
        self.indices = [int(i) for i in indices]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


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
