"""The DataModule's training labels on digits: splits, noise, clean val/test, subsets, ranks."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from benign.data import DigitsDataModule
from benign.errors import ConfigError


def build(**kwargs) -> DigitsDataModule:
    dm = DigitsDataModule(**kwargs)
    dm.setup("fit")
    return dm


def test_default_split_sizes_and_clean_labels() -> None:
    dm = build()
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (1131, 126, 540)
    assert not dm.noisy_mask.any()
    assert torch.equal(dm.true_targets, dm.observed_targets)
    sources = set(dm.train_source_indices.tolist())
    assert not sources & set(dm.val_source_indices.tolist())
    assert len(sources | set(dm.val_source_indices.tolist())) == 1257


def test_symmetric_rate_realised_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="benign"):
        dm = build(noise_rate=0.2, noise_seed=3)
    assert abs(dm.realised_noise_rate - 0.2) <= 0.005
    assert torch.all(dm.observed_targets[dm.noisy_mask] != dm.true_targets[dm.noisy_mask])
    assert torch.equal(dm.train_dataset.targets, dm.observed_targets)
    assert torch.equal(dm.train_eval_dataset.targets, dm.observed_targets)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("noise:")]
    n = len(dm.noisy_mask)
    flipped = int(dm.noisy_mask.sum())
    assert lines == [
        f"noise: symmetric, rate 0.20 requested, {flipped / n:.3f} realised "
        f"({flipped} of {n} training labels flipped)"
    ]


@pytest.mark.parametrize("noise_type", ["symmetric", "asymmetric", "class_subset"])
def test_val_and_test_stay_clean(noise_type: str) -> None:
    clean, noisy = build(), build(noise_rate=0.4, noise_type=noise_type)
    assert noisy.noisy_mask.any()
    for split in ("val_dataset", "test_dataset"):
        assert torch.equal(getattr(clean, split).targets, getattr(noisy, split).targets)
        assert torch.equal(getattr(clean, split).images, getattr(noisy, split).images)
    assert torch.equal(clean.true_targets, noisy.true_targets)


def test_asymmetric_uses_the_mnist_pairs() -> None:
    dm = build(noise_rate=0.3, noise_type="asymmetric")
    pairs = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}
    mask = dm.noisy_mask
    for true, observed in zip(dm.true_targets[mask], dm.observed_targets[mask], strict=True):
        assert pairs[int(true)] == int(observed)
    assert set(dm.true_targets[mask].tolist()) == set(pairs)


def test_class_subset_default_is_first_half() -> None:
    dm = build(noise_rate=0.2, noise_type="class_subset")
    assert set(dm.true_targets[dm.noisy_mask].tolist()) <= {0, 1, 2, 3, 4}
    assert abs(dm.realised_noise_rate - 0.2) <= 0.005
    dm = build(noise_rate=0.05, noise_type="class_subset", noise_classes=[8])
    assert set(dm.true_targets[dm.noisy_mask].tolist()) == {8}


def test_determinism_and_seed_dependence() -> None:
    torch.manual_seed(0)
    first = build(noise_rate=0.2, noise_seed=7)
    torch.manual_seed(123)
    np.random.seed(5)
    second = build(noise_rate=0.2, noise_seed=7)
    other = build(noise_rate=0.2, noise_seed=8)
    assert torch.equal(first.observed_targets, second.observed_targets)
    assert torch.equal(first.train_source_indices, second.train_source_indices)
    assert not torch.equal(first.observed_targets, other.observed_targets)
    # the noise seed changes labels, never the split
    assert torch.equal(first.train_source_indices, other.train_source_indices)
    assert build(noise_rate=0.2).noise_seed == 0


def test_split_seed_changes_split() -> None:
    a, b = build(split_seed=0), build(split_seed=1)
    assert not torch.equal(a.train_source_indices, b.train_source_indices)


def test_two_simulated_ranks_agree_and_partition_validation() -> None:
    modules = []
    for rank in (0, 1):
        dm = DigitsDataModule(noise_rate=0.2, noise_seed=11, eval_batch_size=16)
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        dm.setup("fit")
        modules.append(dm)
    assert torch.equal(modules[0].observed_targets, modules[1].observed_targets)
    assert torch.equal(modules[0].noisy_mask, modules[1].noisy_mask)
    seen = [torch.cat([idx for _, _, idx in dm.val_dataloader()]) for dm in modules]
    merged = torch.cat(seen).sort().values
    assert torch.equal(merged, torch.arange(len(modules[0].val_dataset)))
    assert len(seen[0]) + len(seen[1]) == len(modules[0].val_dataset)


@pytest.mark.parametrize("subset", [300, 0.25])
def test_train_subset_is_stratified_seeded_and_recorded(subset: int | float) -> None:
    full = build()
    dm = build(train_subset=subset, noise_rate=0.2)
    n = len(dm.true_targets)
    assert n == (300 if subset == 300 else round(0.25 * 1131))
    assert set(dm.train_source_indices.tolist()) <= set(full.train_source_indices.tolist())
    expected = torch.bincount(full.true_targets, minlength=10) * n / len(full.true_targets)
    counts = torch.bincount(dm.true_targets, minlength=10)
    assert torch.all((counts - expected).abs() <= 1)
    again = build(train_subset=subset, noise_rate=0.2)
    assert torch.equal(dm.train_source_indices, again.train_source_indices)
    assert torch.equal(dm.observed_targets, again.observed_targets)
    manifest = dm.noise_manifest()
    assert str(manifest["train_subset"]) == str(subset)
    assert abs(float(manifest["realised_noise_rate"]) - 0.2) <= 0.005
    assert build(train_subset=subset, split_seed=1).train_source_indices.tolist() != (
        dm.train_source_indices.tolist()
    )


def test_coarse_level_labels_and_noise() -> None:
    fine = build()
    dm = build(label_level="coarse", noise_rate=0.2)
    assert dm.num_classes == 2 and dm.fine_num_classes == 10
    assert torch.equal(dm.true_targets, (fine.true_targets >= 5).long())
    assert torch.equal(dm.test_dataset.targets, dm.coarse_map[fine.test_dataset.targets])
    assert abs(dm.realised_noise_rate - 0.2) <= 0.005
    # at the coarse level a flip goes to the other superclass
    assert torch.equal(dm.observed_targets[dm.noisy_mask], 1 - dm.true_targets[dm.noisy_mask])


def test_manifest_round_trip(tmp_path) -> None:
    dm = build(noise_rate=0.2, noise_seed=4)
    path = tmp_path / "run" / "noise.npz"
    dm.save_noise_manifest(str(path))
    expected = dm.noise_manifest()
    with np.load(path) as saved:
        assert set(saved.files) == set(expected)
        for key, value in expected.items():
            assert np.array_equal(saved[key], value), key
        assert np.array_equal(
            saved["noisy_indices"], torch.nonzero(dm.noisy_mask).flatten().numpy()
        )
        assert np.array_equal(saved["observed_labels"], dm.observed_targets.numpy())
        assert np.array_equal(saved["source_indices"], dm.train_source_indices.numpy())
        assert int(saved["noise_seed"]) == 4 and str(saved["noise_type"]) == "symmetric"
        assert str(saved["label_level"]) == "fine" and int(saved["split_seed"]) == 0


def test_state_dict_restores_labels_despite_other_noise_seed() -> None:
    original = build(noise_rate=0.3, noise_seed=1)
    state = original.state_dict()
    # before setup: kept and applied in setup
    resumed = DigitsDataModule(noise_rate=0.3, noise_seed=2)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state
    resumed.setup("fit")
    assert torch.equal(resumed.observed_targets, original.observed_targets)
    assert torch.equal(resumed.noisy_mask, original.noisy_mask)
    assert torch.equal(resumed.train_dataset.targets, original.observed_targets)
    # after setup (Lightning restores after setup): applied in place
    late = build(noise_rate=0.3, noise_seed=2)
    dataset = late.train_dataset
    late.load_state_dict(state)
    assert late.train_dataset is dataset
    assert torch.equal(dataset.targets, original.observed_targets)
    assert torch.equal(late.train_eval_dataset.targets, original.observed_targets)
    assert DigitsDataModule().state_dict() == {}


def test_noise_file_labels(tmp_path) -> None:
    dm = build()
    given = dm.true_targets.numpy().copy()
    given[:50] = (given[:50] + 3) % 10
    path = tmp_path / "human.npy"
    np.save(path, given)
    noisy = build(noise_file=str(path))
    assert noisy.noisy_mask[:50].all() and not noisy.noisy_mask[50:].any()
    assert noisy.noise_manifest()["noise_type"] == "file"
    # one label per point of the original training set works too
    full = np.zeros(1257, dtype=np.int64)
    full[dm.train_source_indices.numpy()] = given
    np.save(path, full)
    assert torch.equal(build(noise_file=str(path)).observed_targets, noisy.observed_targets)


@pytest.mark.parametrize("change", [{"split_seed": 1}, {"val_split": 0.2}, {"train_subset": 500}])
def test_restoring_onto_another_split_is_refused(change: dict) -> None:
    other = DigitsDataModule(noise_rate=0.2, **change)
    other.load_state_dict(build(noise_rate=0.2).state_dict())
    with pytest.raises(ConfigError) as err:
        other.setup("fit")
    assert "resume with the same data files, --data.split_seed" in str(err.value)
    assert "\n" not in str(err.value)


def test_restoring_another_label_level_is_refused() -> None:
    coarse = DigitsDataModule(label_level="coarse")
    coarse.load_state_dict(build().state_dict())
    with pytest.raises(ConfigError, match="resume with the same --data.label_level"):
        coarse.setup("fit")
