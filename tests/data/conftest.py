"""Fixtures that write small datasets in torchvision's exact on-disk formats."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torchvision

from benign.data.cifar import CIFAR10_CLASSES
from benign.data.cifar100_classes import (
    CIFAR100_CLASSES,
    CIFAR100_SUPERCLASS_MAP,
    CIFAR100_SUPERCLASSES,
)


def write_idx_images(path: Path, images: np.ndarray) -> None:
    """IDX3 ubyte: magic 2051, then n, rows, cols (big-endian int32), then the pixels."""
    n, rows, cols = images.shape
    path.write_bytes(struct.pack(">iiii", 2051, n, rows, cols) + images.astype(np.uint8).tobytes())


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    """IDX1 ubyte: magic 2049, then n (big-endian int32), then one byte per label."""
    path.write_bytes(struct.pack(">ii", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def fake_images(labels: np.ndarray, channels: int, size: int) -> np.ndarray:
    """uint8 ``[N, C, H, W]``: channel 0 = 20 * label, channel 1 (if any) = 8 * column."""
    images = np.zeros((len(labels), channels, size, size), dtype=np.uint8)
    images[:, 0] = (20 * labels)[:, None, None]
    if channels > 1:
        images[:, 1] = (8 * np.arange(size))[None, None, :]
    return images


def balanced_labels(n: int, num_classes: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.arange(n) % num_classes).astype(np.int64)


@pytest.fixture
def mnist_dir(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """``data_dir`` with 60 training and 20 test MNIST-format images (labels 0..9)."""
    raw = tmp_path / "mnist_data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    labels = {"train": balanced_labels(60, 10, 1), "test": balanced_labels(20, 10, 2)}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = fake_images(labels[split], 1, 28)[:, 0]
        write_idx_images(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx_labels(raw / f"{prefix}-labels-idx1-ubyte", labels[split])
    return tmp_path / "mnist_data", labels


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=2)


def _cifar_rows(labels: np.ndarray) -> np.ndarray:
    """CIFAR rows: 1024 red, 1024 green, 1024 blue bytes, each plane row-major."""
    return fake_images(labels, 3, 32).reshape(len(labels), 3072)


@pytest.fixture
def skip_cifar_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our fake files cannot match the real md5 sums: check only that the files exist."""
    monkeypatch.setattr(
        torchvision.datasets.cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath)
    )


@pytest.fixture
def cifar10_dir(cifar10_files, skip_cifar_md5: None) -> tuple[Path, dict[str, np.ndarray]]:
    """:func:`cifar10_files`, readable by torchvision (md5 check reduced to existence)."""
    return cifar10_files


@pytest.fixture
def cifar10_files(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """``data_dir/cifar-10-batches-py`` with 5 x 12 training and 20 test images."""
    folder = tmp_path / "cifar_data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    labels = {"train": balanced_labels(60, 10, 3), "test": balanced_labels(20, 10, 4)}
    for b in range(5):
        part = labels["train"][12 * b : 12 * (b + 1)]
        _pickle(
            folder / f"data_batch_{b + 1}",
            {"batch_label": f"training batch {b + 1} of 5", "labels": part.tolist(),
             "data": _cifar_rows(part), "filenames": [f"img{i}.png" for i in range(len(part))]},
        )  # fmt: skip
    _pickle(
        folder / "test_batch",
        {"batch_label": "testing batch 1 of 1", "labels": labels["test"].tolist(),
         "data": _cifar_rows(labels["test"]), "filenames": ["t.png"] * 20},
    )  # fmt: skip
    _pickle(
        folder / "batches.meta",
        {"label_names": list(CIFAR10_CLASSES), "num_cases_per_batch": 12, "num_vis": 3072},
    )
    return tmp_path / "cifar_data", labels


@pytest.fixture
def cifar100_dir(tmp_path: Path, skip_cifar_md5: None) -> tuple[Path, dict[str, np.ndarray]]:
    """``data_dir/cifar-100-python`` with 200 training and 100 test images (2 and 1 per class)."""
    folder = tmp_path / "cifar_data" / "cifar-100-python"
    folder.mkdir(parents=True)
    labels = {"train": balanced_labels(200, 100, 5), "test": balanced_labels(100, 100, 6)}
    table = np.asarray(CIFAR100_SUPERCLASS_MAP)
    for split in ("train", "test"):
        fine = labels[split]
        _pickle(
            folder / split,
            {"batch_label": f"{split}ing batch 1 of 1", "fine_labels": fine.tolist(),
             "coarse_labels": table[fine].tolist(), "data": _cifar_rows(fine % 12),
             "filenames": ["x.png"] * len(fine)},
        )  # fmt: skip
    _pickle(
        folder / "meta",
        {
            "fine_label_names": list(CIFAR100_CLASSES),
            "coarse_label_names": list(CIFAR100_SUPERCLASSES),
        },
    )
    return tmp_path / "cifar_data", labels
