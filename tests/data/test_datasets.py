"""Batched datasets, augmentation and loaders."""

from __future__ import annotations

import torch
from lightning.pytorch.utilities.data import _update_dataloader
from torch.utils.data import DataLoader, DistributedSampler

from benign.data import DigitsDataModule, IndexedTensorDataset, RandomCropFlip, collate_batch
from benign.data.loaders import eval_indices, eval_loader


def uint8_dataset(n: int = 40, augment=None) -> IndexedTensorDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=generator)
    return IndexedTensorDataset(images, torch.arange(n) % 10, augment)


def test_getitems_equals_stacked_getitem() -> None:
    dataset = uint8_dataset()
    indices = [5, 0, 17, 17, 39]
    x, y, index = dataset.__getitems__(indices)
    items = [dataset[i] for i in indices]
    assert torch.equal(x, torch.stack([item[0] for item in items]))
    assert torch.equal(y, torch.stack([item[1] for item in items]))
    assert index.tolist() == indices
    assert x.dtype == torch.float32 and torch.equal(x, dataset.images[indices].float() / 255)
    assert collate_batch(items)[0].shape == x.shape  # per-sample lists are stacked too


def test_float_inputs_pass_through() -> None:
    images = torch.rand(6, 1, 8, 8)
    x, _, _ = IndexedTensorDataset(images, torch.zeros(6)).__getitems__(range(6))
    assert torch.equal(x, images)


def test_random_crop_flip_keeps_shape_range_and_content() -> None:
    torch.manual_seed(0)
    images = torch.randint(1, 256, (64, 3, 32, 32), dtype=torch.uint8)
    out = RandomCropFlip(padding=4)(images)
    assert out.shape == images.shape and out.dtype == torch.uint8
    # every output is a shifted (maybe flipped) copy: zero padding only at the borders
    assert not torch.equal(out, images)
    changed = (out != images).flatten(1).any(1)
    assert changed.float().mean() > 0.8
    centre = out[:, :, 4:28, 4:28]
    assert (centre > 0).all()  # the crop never moves more than 4 pixels
    identity = RandomCropFlip(padding=0, flip=False)(images)
    assert torch.equal(identity, images)
    flipped = RandomCropFlip(padding=0, flip=True)(images)
    same = (flipped == images).flatten(1).all(1)
    mirrored = (flipped == images.flip(3)).flatten(1).all(1)
    assert torch.all(same | mirrored) and same.any() and mirrored.any()


def test_crop_offsets_match_a_padded_window() -> None:
    torch.manual_seed(1)
    image = torch.arange(1, 1 + 3 * 6 * 6, dtype=torch.float32).reshape(1, 3, 6, 6)
    out = RandomCropFlip(padding=2, flip=False)(image.repeat(50, 1, 1, 1))
    padded = torch.nn.functional.pad(image, (2, 2, 2, 2))[0]
    windows = [padded[:, top : top + 6, left : left + 6] for top in range(5) for left in range(5)]
    hits = [next(i for i, w in enumerate(windows) if torch.equal(sample, w)) for sample in out]
    assert len(set(hits)) > 5  # offsets vary per sample


def test_augmented_batches_stay_in_unit_range() -> None:
    x, _, _ = uint8_dataset(augment=RandomCropFlip()).__getitems__(list(range(40)))
    assert x.shape == (40, 3, 8, 8) and 0 <= x.min() and x.max() <= 1


def test_loader_with_workers_and_distributed_sampler_reinjection() -> None:
    dm = DigitsDataModule(batch_size=100, num_workers=1)
    dm.setup("fit")
    loader = dm.train_dataloader()
    x, y, index = next(iter(loader))
    assert x.shape == (100, 1, 8, 8) and torch.equal(y, dm.observed_targets[index])
    # Lightning re-creates the loader with a DistributedSampler: still (x, y, index) batches
    seen = []
    for rank in (0, 1):
        sampler = DistributedSampler(dm.train_dataset, num_replicas=2, rank=rank, shuffle=False)
        plain = DataLoader(dm.train_dataset, batch_size=64, collate_fn=collate_batch)
        for x, y, index in _update_dataloader(plain, sampler):
            assert x.shape[1:] == (1, 8, 8) and torch.equal(y, dm.observed_targets[index])
            seen.append(index)
    assert set(torch.cat(seen).tolist()) == set(range(len(dm.train_dataset)))


def test_drop_last_only_when_a_single_point_would_remain() -> None:
    dm = DigitsDataModule(train_subset=257, batch_size=128)
    dm.setup("fit")
    assert dm.train_dataloader().drop_last
    dm = DigitsDataModule(batch_size=128)
    dm.setup("fit")
    assert not dm.train_dataloader().drop_last
    assert sum(len(b[1]) for b in dm.train_dataloader()) == len(dm.train_dataset)


def test_eval_loader_shards_subset_without_repeats() -> None:
    dataset = uint8_dataset(n=37)
    full = torch.cat([index for _, _, index in eval_loader(dataset, 8)])
    assert full.tolist() == list(range(37))
    shards = [
        torch.cat(
            [index for _, _, index in eval_loader(dataset, 4, rank=r, world_size=3, max_samples=20)]
        )
        for r in range(3)
    ]
    merged = torch.cat(shards)
    assert len(merged) == 20 and len(set(merged.tolist())) == 20
    assert sorted(merged.tolist()) == eval_indices(37, max_samples=20).tolist()
    assert eval_indices(37, max_samples=20).tolist() == eval_indices(37, max_samples=20).tolist()


def test_val_test_predict_loaders_cover_each_point_once() -> None:
    dm = DigitsDataModule(eval_batch_size=50)
    dm.setup("test")
    for loader, dataset in (
        (dm.val_dataloader(), dm.val_dataset),
        (dm.test_dataloader(), dm.test_dataset),
        (dm.predict_dataloader(), dm.test_dataset),
    ):
        indices = torch.cat([index for _, _, index in loader])
        assert indices.tolist() == list(range(len(dataset)))


def test_augmentation_is_a_function_of_the_batch_and_the_seed(monkeypatch):
    """A batch made twice (a resumed run re-makes the batch it had prefetched, a worker makes it
    in another process) is augmented the same way; other batches or seeds, differently."""
    import torch

    from benign.data.datasets import IndexedTensorDataset, RandomCropFlip

    images = torch.randint(0, 255, (16, 3, 8, 8), dtype=torch.uint8)
    data = IndexedTensorDataset(images, torch.zeros(16), RandomCropFlip(padding=2))
    monkeypatch.setenv("PL_GLOBAL_SEED", "3")
    first = data.__getitems__([5, 2, 9, 0])[0]
    torch.rand(100)  # the global stream moved on: no effect
    assert torch.equal(data.__getitems__([5, 2, 9, 0])[0], first)
    reordered = data.__getitems__([2, 5, 9, 0])[0]
    assert not torch.equal(reordered, first[[1, 0, 2, 3]])  # another batch, other draws
    monkeypatch.setenv("PL_GLOBAL_SEED", "4")
    assert not torch.equal(data.__getitems__([5, 2, 9, 0])[0], first)
