"""MNIST and CIFAR read through torchvision from files written in its exact on-disk formats."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
import torch
import torchvision

from benign.data import CIFAR10DataModule, CIFAR100DataModule, MNISTDataModule
from benign.data.cifar100_classes import CIFAR100_SUPERCLASS_MAP
from benign.errors import DataNotFoundError


def check_split_labels(dm, written: dict[str, np.ndarray], fine_of=lambda y: y) -> None:
    """Labels the module serves equal the labels written, point by point."""
    train = written["train"]
    assert torch.equal(dm.true_targets, torch.as_tensor(fine_of(train[dm.train_source_indices])))
    assert torch.equal(
        dm.val_dataset.targets, torch.as_tensor(fine_of(train[dm.val_source_indices]))
    )
    assert torch.equal(dm.test_dataset.targets, torch.as_tensor(fine_of(written["test"])))


def check_train_batch(dm, shape: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    x, y, index = next(iter(dm.train_dataloader()))
    assert x.shape[1:] == shape and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert y.dtype == torch.long and index.dtype == torch.long
    assert torch.equal(y, dm.observed_targets[index])
    return x, y, index


def test_mnist_reads_idx_files(mnist_dir) -> None:
    data_dir, written = mnist_dir
    dm = MNISTDataModule(data_dir=str(data_dir), val_split=10, batch_size=16, noise_rate=0.2)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.train_dataset.images.dtype == torch.uint8
    assert dm.train_dataset.images.shape == (50, 1, 28, 28)
    assert len(dm.val_dataset) == 10 and len(dm.test_dataset) == 20
    check_split_labels(dm, written)
    x, _, index = check_train_batch(dm, (1, 28, 28))
    # the fake image's pixels are 20 * label / 255
    true = dm.true_targets[index].float()
    assert torch.allclose(x[:, 0].amax(dim=(1, 2)), 20 * true / 255)
    assert dm.noisy_mask.sum() == 10


def test_mnist_decompresses_gzipped_idx_files_once(mnist_dir) -> None:
    """The MNIST mirrors serve ``*-ubyte.gz``: put in ``raw/`` as they are, they are read too."""
    data_dir, written = mnist_dir
    raw = os.path.join(data_dir, "MNIST", "raw")
    for name in os.listdir(raw):
        with open(os.path.join(raw, name), "rb") as plain:
            with gzip.open(os.path.join(raw, name + ".gz"), "wb") as packed:
                packed.write(plain.read())
        os.remove(os.path.join(raw, name))
    dm = MNISTDataModule(data_dir=str(data_dir), val_split=10)
    with pytest.raises(DataNotFoundError, match="not found"):
        dm.setup("fit")  # prepare_data (rank 0) unpacks; setup alone only reads
    dm.prepare_data()
    names = [os.path.basename(p) for p in dm.raw_files()]
    assert sorted(os.listdir(raw)) == sorted(names + [n + ".gz" for n in names])
    unpacked = {p: os.stat(p).st_mtime_ns for p in dm.raw_files()}
    dm.prepare_data()  # once: the plain files are there now, nothing is rewritten
    assert {p: os.stat(p).st_mtime_ns for p in dm.raw_files()} == unpacked
    dm.setup("fit")
    check_split_labels(dm, written)


def test_cifar10_reads_pickled_batches(cifar10_dir) -> None:
    data_dir, written = cifar10_dir
    dm = CIFAR10DataModule(data_dir=str(data_dir), val_split=10, batch_size=64)
    dm.setup("fit")
    assert dm.train_eval_dataset.images.shape == (50, 3, 32, 32)
    assert dm.train_eval_dataset.images.dtype == torch.uint8
    check_split_labels(dm, written)
    x, _, _ = dm.train_eval_dataset.__getitems__(list(range(50)))
    # channel 0 encodes the label, channel 1 the column: CHW order and orientation kept
    assert torch.allclose(x[:, 0, 5, 5], 20 * dm.true_targets.float() / 255)
    assert torch.allclose(x[0, 1, 7], 8 * torch.arange(32).float() / 255)
    # training batches are augmented (crop + flip) but stay in [0, 1]
    check_train_batch(dm, (3, 32, 32))
    assert dm.train_dataset.augment is not None and dm.train_eval_dataset.augment is None


def test_cifar100_reads_fine_and_coarse_labels(cifar100_dir) -> None:
    data_dir, written = cifar100_dir
    dm = CIFAR100DataModule(data_dir=str(data_dir), val_split=20, label_level="coarse")
    dm.setup("fit")
    table = np.asarray(CIFAR100_SUPERCLASS_MAP)
    check_split_labels(dm, written, fine_of=lambda y: table[y])
    assert np.array_equal(dm.read_coarse_labels(train=True), table[written["train"]])
    assert np.array_equal(dm.read_coarse_labels(train=False), table[written["test"]])
    check_train_batch(dm, (3, 32, 32))


def test_cifar100_warns_when_files_disagree_with_the_table(cifar100_dir) -> None:
    import pickle

    data_dir, _ = cifar100_dir
    path = data_dir / "cifar-100-python" / "test"
    with open(path, "rb") as handle:
        entry = pickle.load(handle)
    entry["coarse_labels"] = [0] * len(entry["coarse_labels"])
    with open(path, "wb") as handle:
        pickle.dump(entry, handle)
    with pytest.warns(UserWarning, match="disagree with the official superclass table"):
        CIFAR100DataModule(data_dir=str(data_dir), val_split=20).setup("fit")


@pytest.mark.parametrize(
    "cls, folder",
    [
        (MNISTDataModule, os.path.join("nowhere", "MNIST", "raw")),
        (CIFAR10DataModule, os.path.join("nowhere", "cifar-10-batches-py")),
        (CIFAR100DataModule, os.path.join("nowhere", "cifar-100-python")),
    ],
)
def test_missing_files_one_line_in_prepare_and_setup(cls, folder: str) -> None:
    dm = cls(data_dir="nowhere")
    for step in (dm.prepare_data, dm.setup):
        with pytest.raises(DataNotFoundError) as err:
            step()
        message = str(err.value)
        assert "\n" not in message
        assert f"not found in {folder}" in message and "--data.download true" in message
    assert not os.path.exists("nowhere")


def test_cifar_md5_mismatch_is_reported_as_corrupted(cifar10_files) -> None:
    data_dir, _ = cifar10_files  # the real md5 check: our fake files do not pass it
    with pytest.raises(DataNotFoundError) as err:
        CIFAR10DataModule(data_dir=str(data_dir)).setup("fit")
    assert "corrupted or incomplete" in str(err.value) and "\n" not in str(err.value)


def test_download_failure_is_one_line(monkeypatch) -> None:
    class Offline(torchvision.datasets.MNIST):
        def __init__(self, *args, **kwargs):
            raise OSError("Temporary failure in name resolution\nmore detail")

    monkeypatch.setattr(MNISTDataModule, "torchvision_class", Offline)
    dm = MNISTDataModule(data_dir="nowhere", download=True)
    with pytest.raises(DataNotFoundError) as err:
        dm.prepare_data()
    assert str(err.value).startswith("could not download MNIST into nowhere (Temporary failure")
    assert "\n" not in str(err.value)
