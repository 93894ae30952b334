"""MNIST through torchvision's own reader (raw IDX files under ``data_dir/MNIST/raw``).

:class:`MNISTDataModule` is written for torchvision's whole MNIST family: a sibling such as
Fashion-MNIST only sets ``torchvision_class``, names, presets, statistics and, optionally,
another place to copy the files from (:meth:`MNISTDataModule.other_sources`).
"""

from __future__ import annotations

import os
from typing import ClassVar

import numpy as np
import torch
import torchvision

from benign.data.base import BenignDataModule, RawSplits
from benign.data.coarse import halves_map, halves_names
from benign.data.debian_package import check_idx_file, find_package_files, install_files
from benign.data.digits import DIGIT_CLASSES, MNIST_ASYMMETRIC_PAIRS
from benign.errors import DataNotFoundError, first_line


class MNISTDigits:
    """What the MNIST-digit data modules (``mnist``, ``mnist5k``) share: the ten digit classes as
    ``(1, 28, 28)`` images, the ``halves`` coarse preset (0-4 vs 5-9, the default), MNIST's
    asymmetric pairs and its pixel mean/std. Listed before the data module base class."""

    fine_classes: ClassVar[tuple[str, ...]] = DIGIT_CLASSES
    image_shape: ClassVar[tuple[int, ...]] = (1, 28, 28)
    coarse_map_presets: ClassVar[dict[str, list[int]]] = {"halves": halves_map(10)}
    coarse_class_names_presets: ClassVar[dict[str, list[str]]] = {"halves": halves_names(10)}
    default_coarse_map: ClassVar[str] = "halves"
    asymmetric_pairs: ClassVar[dict[int, int] | None] = MNIST_ASYMMETRIC_PAIRS
    mean: ClassVar[tuple[float, ...] | None] = (0.1307,)
    std: ClassVar[tuple[float, ...] | None] = (0.3081,)


class MNISTDataModule(MNISTDigits, BenignDataModule):
    """MNIST: 60,000 training and 10,000 test images of 28x28 handwritten digits.

    Read with ``torchvision.datasets.MNIST(root=data_dir)`` from ``data_dir/MNIST/raw``
    (``train-images-idx3-ubyte`` etc.; gzipped ``*-ubyte.gz`` files there, as the MNIST mirrors
    serve them, are decompressed beside them once by ``prepare_data``), kept as uint8
    ``[N, 1, 28, 28]`` and scaled to [0, 1] a batch at a time. No augmentation. Coarse presets: ``halves`` (0-4 vs 5-9,
    default). Takes the base class's arguments.
    """

    name: ClassVar[str] = "mnist"
    display_name: ClassVar[str] = "MNIST"
    torchvision_class: ClassVar[type] = torchvision.datasets.MNIST
    train_size: ClassVar[int | None] = 60_000

    @property
    def raw_folder(self) -> str:
        """Where torchvision looks for the raw IDX files."""
        return os.path.join(self.data_dir, self.torchvision_class.__name__, "raw")

    def raw_files(self) -> list[str]:
        """Paths of the four uncompressed IDX files torchvision reads."""
        names = [
            os.path.splitext(os.path.basename(url))[0]
            for url, _ in self.torchvision_class.resources
        ]
        return [os.path.join(self.raw_folder, name) for name in names]

    def _missing_message(self) -> str:
        return (
            f"{self.display_name} not found in {self.raw_folder}: put torchvision's raw IDX files "
            f"({', '.join(os.path.basename(p) for p in self.raw_files())}) there, or pass "
            "--data.download true (needs internet)"
        )

    def prepare_data(self) -> None:
        """Fill ``raw_folder`` from ``.gz`` files there or :meth:`other_sources`, else download.

        Lightning calls this on rank 0 only; each file is written under a temporary name and
        renamed once complete and checked, so an interrupted copy is redone by the next run.
        """
        if not self._has_raw_files():
            local = find_package_files("", self._raw_names(), override=self.raw_folder)
            sources = local or self.other_sources()
            if sources is not None:
                self._install(sources)
        super().prepare_data()

    def other_sources(self) -> dict[str, str] | None:
        """Another place holding every raw file (``{name: path}``, plain or ``.gz``), or ``None``."""
        return None

    def _install(self, sources: dict[str, str]) -> None:
        try:
            install_files(sources, self.raw_folder, check=check_idx_file)
        except (OSError, ValueError, EOFError) as err:
            origin = os.path.dirname(next(iter(sources.values())))
            raise DataNotFoundError(
                f"could not prepare {self.display_name} in {self.raw_folder} from {origin} "
                f"({first_line(err)}): replace that file, or free disk space, then run again"
            ) from None

    def _raw_names(self) -> list[str]:
        return [os.path.basename(path) for path in self.raw_files()]

    def _has_raw_files(self) -> bool:
        return all(os.path.isfile(path) for path in self.raw_files())

    def _check_files(self) -> None:
        if self._has_raw_files():
            return
        if self.download:
            raise DataNotFoundError(
                f"{self.display_name} not found in {self.raw_folder}: download=True fetches it in "
                "prepare_data(), which must run before setup()"
            )
        raise DataNotFoundError(self._missing_message())

    def _download(self) -> None:
        try:
            self.torchvision_class(root=self.data_dir, train=True, download=True)
        except Exception as err:  # network errors come in many types
            raise DataNotFoundError(
                f"could not download {self.display_name} into {self.data_dir} ({first_line(err)}): "
                f"put the raw IDX files in {self.raw_folder} by hand"
            ) from None

    def _read_split(self, train: bool) -> tuple[torch.Tensor, np.ndarray]:
        try:
            dataset = self.torchvision_class(root=self.data_dir, train=train, download=False)
        except RuntimeError as err:
            if "not found" in str(err).lower():
                raise DataNotFoundError(self._missing_message()) from None
            raise self._unreadable(err) from None
        except (AssertionError, ValueError, OSError, KeyError) as err:
            raise self._unreadable(err) from None
        images = torch.as_tensor(dataset.data, dtype=torch.uint8).unsqueeze(1).contiguous()
        return images, np.asarray(dataset.targets, dtype=np.int64)

    def _unreadable(self, err: BaseException) -> DataNotFoundError:
        """The one-line error for IDX files torchvision cannot read, naming a truncated file."""
        where, fix = f"files in {self.raw_folder}", "them with torchvision's raw IDX files"
        for path in self.raw_files():
            problem = idx_size_problem(path)
            if problem:
                where, fix = f"file {path} ({problem})", "it with torchvision's raw IDX file"
                break
        return DataNotFoundError(
            f"{self.display_name} {where} could not be read ({first_line(err)}): "
            f"replace {fix}, or pass --data.download true"
        )

    def _load_raw(self) -> RawSplits:
        train_images, train_labels = self._read_split(train=True)
        test_images, test_labels = self._read_split(train=False)
        return RawSplits(train_images, train_labels, test_images, test_labels)


def idx_size_problem(path: str) -> str | None:
    """Why a uint8 IDX file's size disagrees with its header (truncated, padded), or None."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
        dims = handle.read(4 * magic[3]) if len(magic) == 4 else b""
    if len(magic) < 4 or len(dims) < 4 * magic[3]:
        return "shorter than its header"
    if magic[2] != 0x08:  # not uint8: leave it to torchvision
        return None
    expected = 4 + len(dims) + int(np.prod(np.frombuffer(dims, dtype=">i4")))
    actual = os.path.getsize(path)
    return None if actual == expected else f"{actual} bytes, its header says {expected}"
