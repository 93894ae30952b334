"""CIFAR-10 and CIFAR-100 through torchvision's own reader (pickled batches under ``data_dir``).

Images are kept as uint8 ``[N, 3, 32, 32]``; training batches get a random 32x32 crop of the
4-pixel zero-padded image and a horizontal flip. Normalisation is left to the model (``mean``
and ``std`` are given for configs), so inputs and attack epsilons are in [0, 1] pixel units.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
import torchvision
from torch import Tensor

from benign.data.base import BenignDataModule, RawSplits
from benign.data.cifar100_classes import (
    CIFAR100_ASYMMETRIC_PAIRS,
    CIFAR100_CLASSES,
    CIFAR100_SUPERCLASS_MAP,
    CIFAR100_SUPERCLASSES,
)
from benign.data.coarse import halves_map, halves_names
from benign.data.datasets import RandomCropFlip
from benign.errors import DataNotFoundError, first_line

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


class CIFAR10DataModule(BenignDataModule):
    """CIFAR-10: 50,000 training and 10,000 test colour images of 32x32, 10 classes.

    Read with ``torchvision.datasets.CIFAR10(root=data_dir)`` from
    ``data_dir/cifar-10-batches-py``. Coarse presets: ``semantic`` (vehicle: airplane,
    automobile, ship, truck / animal: the other six; default) and ``halves``. Asymmetric noise
    uses the standard pairs truck->automobile, bird->airplane, deer->horse, cat<->dog.
    Takes the base class's arguments.
    """

    name: ClassVar[str] = "cifar10"
    display_name: ClassVar[str] = "CIFAR-10"
    torchvision_class: ClassVar[type] = torchvision.datasets.CIFAR10
    fine_classes: ClassVar[tuple[str, ...]] = CIFAR10_CLASSES
    image_shape: ClassVar[tuple[int, ...]] = (3, 32, 32)
    train_size: ClassVar[int | None] = 50_000
    coarse_map_presets: ClassVar[dict[str, list[int]]] = {
        "semantic": [0, 0, 1, 1, 1, 1, 1, 1, 0, 0],
        "halves": halves_map(10),
    }
    coarse_class_names_presets: ClassVar[dict[str, list[str]]] = {
        "semantic": ["vehicle", "animal"],
        "halves": halves_names(10),
    }
    default_coarse_map: ClassVar[str] = "semantic"
    asymmetric_pairs: ClassVar[dict[int, int] | None] = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
    mean: ClassVar[tuple[float, ...] | None] = (0.4914, 0.4822, 0.4465)
    std: ClassVar[tuple[float, ...] | None] = (0.2471, 0.2435, 0.2616)

    @property
    def base_folder(self) -> str:
        """The folder of pickled batches torchvision reads."""
        return os.path.join(self.data_dir, self.torchvision_class.base_folder)

    def data_files(self) -> list[str]:
        """Paths of every file torchvision reads (batches and metadata)."""
        tv = self.torchvision_class
        names = [name for name, _ in tv.train_list + tv.test_list] + [tv.meta["filename"]]
        return [os.path.join(self.base_folder, name) for name in names]

    def _check_files(self) -> None:
        missing = [os.path.basename(p) for p in self.data_files() if not os.path.isfile(p)]
        if not missing:
            return
        folder = self.torchvision_class.base_folder
        if self.download:
            raise DataNotFoundError(
                f"{self.display_name} not found in {self.base_folder}: download=True fetches it "
                "in prepare_data(), which must run before setup()"
            )
        raise DataNotFoundError(
            f"{self.display_name} not found in {self.base_folder} (missing {', '.join(missing)}): "
            f"put the torchvision '{folder}' folder in {self.data_dir}, or pass "
            "--data.download true (needs internet)"
        )

    def _download(self) -> None:
        try:
            self.torchvision_class(root=self.data_dir, train=True, download=True)
        except Exception as err:  # network errors come in many types
            raise DataNotFoundError(
                f"could not download {self.display_name} into {self.data_dir} "
                f"({first_line(err)}): put the '{self.torchvision_class.base_folder}' folder "
                "there by hand"
            ) from None

    def _read_split(self, train: bool) -> tuple[Tensor, np.ndarray]:
        try:
            dataset = self.torchvision_class(root=self.data_dir, train=train, download=False)
        except (
            RuntimeError,
            OSError,
            EOFError,
            KeyError,
            ValueError,
            pickle.UnpicklingError,
        ) as err:
            bad = self._first_corrupt_file()
            where = f"file {bad} is" if bad else f"files in {self.base_folder} are"
            raise DataNotFoundError(
                f"{self.display_name} {where} corrupted or incomplete "
                f"({first_line(err)}): extract a fresh copy there, or pass --data.download true"
            ) from None
        if tuple(dataset.classes) != self.fine_classes:
            warnings.warn(
                f"{self.display_name} class names in {self.base_folder} differ from the standard "
                "ones; labels are used as stored",
                stacklevel=2,
            )
        images = torch.from_numpy(np.ascontiguousarray(dataset.data)).permute(0, 3, 1, 2)
        return images.contiguous(), np.asarray(dataset.targets, dtype=np.int64)

    def _first_corrupt_file(self) -> str | None:
        """The first file whose md5 sum differs from torchvision's record, if any."""
        tv = self.torchvision_class
        for name, md5 in [*tv.train_list, *tv.test_list, (tv.meta["filename"], tv.meta["md5"])]:
            path = os.path.join(self.base_folder, name)
            if not torchvision.datasets.utils.check_integrity(path, md5):
                return path
        return None

    def _load_raw(self) -> RawSplits:
        train_images, train_labels = self._read_split(train=True)
        test_images, test_labels = self._read_split(train=False)
        return RawSplits(train_images, train_labels, test_images, test_labels)

    def _train_augment(self) -> Callable[[Tensor], Tensor] | None:
        return RandomCropFlip(padding=4, flip=True)


class CIFAR100DataModule(CIFAR10DataModule):
    """CIFAR-100: 50,000 training and 10,000 test colour images of 32x32, 100 classes.

    Read with ``torchvision.datasets.CIFAR100(root=data_dir)`` from ``data_dir/cifar-100-python``.
    Coarse presets: ``superclasses`` (the 20 official superclasses; default) and ``halves``.
    The files' own ``coarse_labels`` are read too and checked against the ``superclasses``
    table. Asymmetric noise sends each class to the next class of its superclass (circularly).
    Takes the base class's arguments.
    """

    name: ClassVar[str] = "cifar100"
    display_name: ClassVar[str] = "CIFAR-100"
    torchvision_class: ClassVar[type] = torchvision.datasets.CIFAR100
    fine_classes: ClassVar[tuple[str, ...]] = CIFAR100_CLASSES
    coarse_map_presets: ClassVar[dict[str, list[int]]] = {
        "superclasses": CIFAR100_SUPERCLASS_MAP,
        "halves": halves_map(100),
    }
    coarse_class_names_presets: ClassVar[dict[str, list[str]]] = {
        "superclasses": list(CIFAR100_SUPERCLASSES),
        "halves": halves_names(100),
    }
    default_coarse_map: ClassVar[str] = "superclasses"
    asymmetric_pairs: ClassVar[dict[int, int] | None] = CIFAR100_ASYMMETRIC_PAIRS
    mean: ClassVar[tuple[float, ...] | None] = (0.5071, 0.4865, 0.4409)
    std: ClassVar[tuple[float, ...] | None] = (0.2673, 0.2564, 0.2762)

    def _load_raw(self) -> RawSplits:
        raw = super()._load_raw()
        self._check_superclasses(raw)
        return raw

    def read_coarse_labels(self, train: bool = True) -> np.ndarray:
        """The superclass label of every image, as stored in the pickled files."""
        tv = self.torchvision_class
        labels: list[int] = []
        for name, _ in tv.train_list if train else tv.test_list:
            with open(os.path.join(self.base_folder, name), "rb") as handle:
                labels.extend(pickle.load(handle, encoding="latin1")["coarse_labels"])
        return np.asarray(labels, dtype=np.int64)

    def _check_superclasses(self, raw: RawSplits) -> None:
        """Warn when the files' ``coarse_labels`` disagree with the hard-coded superclass table."""
        table = np.asarray(CIFAR100_SUPERCLASS_MAP, dtype=np.int64)
        for train, fine in ((True, raw.train_labels), (False, raw.test_labels)):
            try:
                coarse = self.read_coarse_labels(train)
            except (KeyError, OSError, EOFError, pickle.UnpicklingError) as err:
                warnings.warn(
                    f"CIFAR-100 coarse_labels unreadable ({first_line(err)}); coarse labels "
                    "follow the official superclass table",
                    stacklevel=2,
                )
                return
            if len(coarse) != len(fine) or not np.array_equal(table[fine], coarse):
                warnings.warn(
                    f"CIFAR-100 coarse_labels in {self.base_folder} disagree with the official "
                    "superclass table; coarse labels follow the table (coarse_map 'superclasses')",
                    stacklevel=2,
                )
                return
