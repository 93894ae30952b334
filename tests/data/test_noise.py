"""The noise functions: exact counts, the flip-to-another-class rule, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benign.data.manifest import save_manifest
from benign.data.noise import (
    apply_noise,
    asymmetric_noise,
    class_subset_noise,
    load_label_file,
    symmetric_noise,
)
from benign.errors import ConfigError

LABELS = np.random.default_rng(0).permutation(np.arange(2000) % 10)


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.2, 0.4, 0.95])
def test_symmetric_flips_exactly_round_rate_n_to_other_classes(rate: float) -> None:
    observed = symmetric_noise(LABELS, 10, rate, seed=0)
    noisy = observed != LABELS
    assert noisy.sum() == round(rate * len(LABELS))
    assert observed.min() >= 0 and observed.max() <= 9


def test_symmetric_targets_are_uniform_over_the_other_classes() -> None:
    labels = np.zeros(30_000, dtype=np.int64)
    observed = symmetric_noise(labels, 10, 0.9, seed=1)
    counts = np.bincount(observed[observed != 0], minlength=10)
    assert counts[0] == 0
    expected = 27_000 / 9
    assert np.all(np.abs(counts[1:] - expected) < 5 * np.sqrt(expected))


def test_asymmetric_sends_each_class_to_its_partner() -> None:
    pairs = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}
    observed = asymmetric_noise(LABELS, 10, 0.3, seed=0, pairs=pairs)
    noisy = observed != LABELS
    for true, noisy_label in zip(LABELS[noisy], observed[noisy], strict=True):
        assert pairs[int(true)] == noisy_label
    for cls in range(10):
        members = LABELS == cls
        expected = round(0.3 * members.sum()) if cls in pairs else 0
        assert noisy[members].sum() == expected
    # realised rate = rate x share of points in classes with a partner
    share = np.isin(LABELS, list(pairs)).mean()
    assert noisy.mean() == pytest.approx(0.3 * share, abs=1e-3)


def test_asymmetric_default_pairs_are_next_class() -> None:
    observed = asymmetric_noise(LABELS, 10, 0.5, seed=0)
    noisy = observed != LABELS
    assert np.array_equal(observed[noisy], (LABELS[noisy] + 1) % 10)
    assert noisy.mean() == pytest.approx(0.5)


def test_class_subset_touches_only_the_chosen_classes() -> None:
    observed = class_subset_noise(LABELS, 10, 0.2, seed=0, classes=[0, 1, 2, 3, 4])
    noisy = observed != LABELS
    assert noisy.sum() == 400
    assert set(LABELS[noisy].tolist()) <= {0, 1, 2, 3, 4}
    assert np.all(observed[noisy] != LABELS[noisy])


def test_class_subset_rate_too_large_names_the_max_rate() -> None:
    with pytest.raises(ConfigError) as err:
        class_subset_noise(LABELS, 10, 0.25, seed=0, classes=[3, 4])
    assert "0.2000" in str(err.value) and "\n" not in str(err.value)


def test_same_seed_same_labels_torch_seed_irrelevant() -> None:
    for noise_type in ("symmetric", "asymmetric", "class_subset"):
        torch.manual_seed(1)
        first = apply_noise(LABELS, 10, noise_type, 0.3, seed=5)
        torch.manual_seed(2)
        np.random.seed(3)
        second = apply_noise(LABELS, 10, noise_type, 0.3, seed=5)
        other = apply_noise(LABELS, 10, noise_type, 0.3, seed=6)
        assert np.array_equal(first, second)
        assert not np.array_equal(first, other)


def test_unknown_noise_type() -> None:
    with pytest.raises(ConfigError, match="unknown noise_type 'gaussian'"):
        apply_noise(LABELS, 10, "gaussian", 0.1, seed=0)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
def test_label_files_round_trip(tmp_path, suffix: str) -> None:
    path = tmp_path / f"labels{suffix}"
    if suffix == ".npy":
        np.save(path, LABELS)
    elif suffix == ".npz":
        np.savez(path, labels=LABELS)
    else:
        path.write_text("label\n" + "\n".join(str(v) for v in LABELS) + "\n")
    assert np.array_equal(load_label_file(path), LABELS)


def test_save_manifest_is_atomic_and_loads_without_pickle(tmp_path) -> None:
    path = tmp_path / "run" / "noise.npz"
    save_manifest(path, {"a": np.arange(3), "name": np.array("symmetric")})
    with np.load(path) as data:
        assert data["a"].tolist() == [0, 1, 2] and str(data["name"]) == "symmetric"
    assert [p.name for p in path.parent.iterdir()] == ["noise.npz"]


def test_cifar10_asymmetric_pairs_are_the_standard_ones() -> None:
    """Patrini et al.'s CIFAR-10 flips: truck->automobile, bird->airplane, deer->horse, cat<->dog."""
    from benign.data import CIFAR10DataModule

    names = CIFAR10DataModule.fine_classes
    pairs = {names[src]: names[dst] for src, dst in CIFAR10DataModule.asymmetric_pairs.items()}
    assert pairs == {
        "truck": "automobile",
        "bird": "airplane",
        "deer": "horse",
        "cat": "dog",
        "dog": "cat",
    }
    labels = np.repeat(np.arange(10), 100)
    observed = asymmetric_noise(labels, 10, 0.4, seed=1, pairs=CIFAR10DataModule.asymmetric_pairs)
    for src, dst in CIFAR10DataModule.asymmetric_pairs.items():
        flipped = observed[labels == src] != src
        assert flipped.sum() == 40 and set(observed[labels == src][flipped]) == {dst}
    untouched = [c for c in range(10) if c not in CIFAR10DataModule.asymmetric_pairs]
    assert all((observed[labels == c] == c).all() for c in untouched)
