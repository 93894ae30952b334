"""DataLoader helpers shared by the DataModules and by callbacks that score whole splits."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence, Sized
from typing import Any

import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset

from benign.data.datasets import IndexedTensorDataset, collate_batch


class IndexSampler(Sampler[int]):
    """Yields a fixed list of dataset indices, in order (no shuffling, no padding)."""

    def __init__(self, indices: Sequence[int]) -> None:
        self.indices = [int(i) for i in indices]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class EpochShuffleSampler(DistributedSampler):
    """The training order: a permutation that is a function of ``(seed, epoch)`` only, sharded
    over DDP ranks, and resumable part-way through an epoch.

    Lightning calls :meth:`set_epoch` before every training epoch. Being a ``DistributedSampler``
    it is kept as it is under DDP (rank ``r`` of ``R`` takes every ``R``-th index of the padded
    permutation, as torch's sampler does); with one process the order is the permutation itself.
    After :meth:`resume_at`, the first iteration of that epoch leaves out the batches a preempted
    run already trained on, so the resumed epoch continues the same sample order.
    """

    def __init__(
        self, data_source: Sized, seed: int = 0, num_replicas: int = 1, rank: int = 0
    ) -> None:
        super().__init__(
            data_source,  # type: ignore[arg-type]
            num_replicas=num_replicas,
            rank=rank,
            shuffle=True,
            seed=int(seed),
        )
        self._skip: tuple[int, int] | None = None  # (epoch, samples to leave out)

    def resume_at(self, epoch: int, samples_done: int) -> None:
        """Start the next iteration of ``epoch`` after its first ``samples_done`` indices."""
        self.epoch = int(epoch)
        self._skip = (int(epoch), int(samples_done)) if samples_done > 0 else None

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.dataset), generator=generator).tolist()  # type: ignore[arg-type]
        if self.num_replicas > 1:
            order = (order * math.ceil(self.total_size / max(len(order), 1)))[: self.total_size]
            order = order[self.rank :: self.num_replicas]
        if self._skip is not None:
            epoch, done = self._skip
            self._skip = None
            if epoch == self.epoch:
                order = order[done:]
        return iter(order)


class ResumableDataLoader(DataLoader):
    """The training loader, with the position in the epoch in Lightning's checkpoints.

    Lightning saves ``state_dict()`` of a loader that has one into every checkpoint and calls
    ``load_state_dict`` before the resumed run iterates it. The state is the epoch and the number
    of batches already trained in it (``batches_done``, a callable reading the trainer's progress);
    on resume the :class:`EpochShuffleSampler` leaves those batches out, or moves on to the next
    epoch when the checkpoint was written at the end of one.
    """

    def __init__(self, *args: Any, batches_done: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches_done = batches_done

    def state_dict(self) -> dict[str, int]:
        sampler = self.sampler
        done = int(self.batches_done()) if self.batches_done is not None else 0
        return {"epoch": int(getattr(sampler, "epoch", 0)), "batches_done": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        sampler = self.sampler
        if not isinstance(sampler, EpochShuffleSampler) or self.batch_size is None:
            return
        epoch, done = int(state.get("epoch", 0)), int(state.get("batches_done", 0))
        if done >= len(self):  # written at the end of the epoch: the next one starts afresh
            sampler.resume_at(epoch + 1, 0)
        else:
            sampler.resume_at(epoch, done * self.batch_size)


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
    split_spec: Any
    trainer: Any

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches ``(x, y_observed, index)`` of the training split."""
        dataset = self.train_dataset
        if dataset is None:
            raise RuntimeError("call setup('fit') before train_dataloader()")
        folds = self.split_spec.fold_positions(len(dataset))
        if folds is not None:  # cross-fitting: the held-out fold is not trained on
            dataset = Subset(dataset, folds[0].tolist())  # items keep their split positions
        # A trailing batch of one point breaks BatchNorm in train mode: drop it (reshuffled each epoch).
        drop_last = len(dataset) > self.batch_size and len(dataset) % self.batch_size == 1
        # The order is a function of (seed, epoch), and the loader draws its worker base seed
        # from its own generator: the global random stream of a resumed run stays in step.
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        trainer = self.trainer
        world_size, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        sampler = EpochShuffleSampler(dataset, seed=seed, num_replicas=world_size, rank=rank)
        generator = torch.Generator().manual_seed(seed)
        return self._loader(
            dataset,
            self.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            generator=generator,
            loader_class=ResumableDataLoader,
            batches_done=self._train_batches_done,
        )

    def _train_batches_done(self) -> int:
        """Batches trained so far in the current epoch (saved with the loader's state)."""
        trainer = self.trainer
        if trainer is None:
            return 0
        return trainer.fit_loop.epoch_loop.batch_progress.current.completed

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

    def _loader(
        self,
        dataset: IndexedTensorDataset,
        batch_size: int,
        loader_class: type[DataLoader] = DataLoader,
        **kwargs: Any,
    ) -> DataLoader:
        return loader_class(
            dataset,
            batch_size=batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            collate_fn=collate_batch,
            **kwargs,
        )
