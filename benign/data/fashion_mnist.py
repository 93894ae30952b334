"""Fashion-MNIST (Xiao et al., 2017): 70,000 28x28 grey images of 10 kinds of clothing.

Three ways to get the files, tried in this order by ``prepare_data`` (rank 0 only):
1. they are already in ``data_dir/FashionMNIST/raw`` (torchvision's layout, plain or ``.gz``);
2. Debian's ``dataset-fashion-mnist`` is installed (``make data``): its gzipped IDX files are
   decompressed into that folder once, atomically (:mod:`benign.data.debian_package`);
3. ``download=True``: torchvision fetches them (needs internet).
"""

from __future__ import annotations

import os
from typing import ClassVar

import torchvision

from benign.data.coarse import halves_map, halves_names
from benign.data.debian_package import find_package_files
from benign.data.mnist import MNISTDataModule

DEBIAN_PACKAGE = "dataset-fashion-mnist"
#: Set to a folder holding the IDX files to use it in place of the Debian package; set to an
#: empty string to turn the package lookup off.
PACKAGE_DIR_ENV = "BENIGN_FASHION_MNIST_PACKAGE_DIR"
PACKAGE_FALLBACK_DIRS: tuple[str, ...] = ("/usr/share/datasets/fashion-mnist",)

#: torchvision's class names, in label order.
FASHION_MNIST_CLASSES: tuple[str, ...] = tuple(torchvision.datasets.FashionMNIST.classes)


def _classes(*names: str) -> set[int]:
    return {FASHION_MNIST_CLASSES.index(name) for name in names}


def _grouping(*groups: set[int]) -> list[int]:
    """Fine -> coarse list from disjoint groups of fine classes covering all ten."""
    return [next(g for g, members in enumerate(groups) if c in members) for c in range(10)]


TOPS = _classes("T-shirt/top", "Pullover", "Coat", "Shirt")
FOOTWEAR = _classes("Sandal", "Sneaker", "Ankle boot")
OTHER = _classes("Trouser", "Dress", "Bag")
NOT_APPAREL = _classes("Sandal", "Sneaker", "Bag", "Ankle boot")
APPAREL = set(range(10)) - NOT_APPAREL


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST: 60,000 training and 10,000 test 28x28 grey images, 10 clothing classes.

    Same storage and batches as :class:`~benign.data.MNISTDataModule` (uint8 ``[N, 1, 28, 28]``
    in memory, scaled to [0, 1] a batch at a time, no augmentation). Class names and labels are
    torchvision's. Coarse presets (``--data.coarse_map``):

    - ``semantic`` (default): tops (T-shirt/top, Pullover, Coat, Shirt) / footwear (Sandal,
      Sneaker, Ankle boot) / other (Trouser, Dress, Bag), three groups of look-alike classes,
      the Fashion-MNIST analogue of CIFAR-10's vehicles vs animals;
    - ``apparel_vs_rest``: the six garments vs Sandal, Sneaker, Bag, Ankle boot;
    - ``halves``: classes 0-4 vs 5-9 (an arbitrary grouping, as a control).

    Asymmetric noise (ours) flips each class to its most-confused neighbour: T-shirt/top <->
    Shirt, Pullover <-> Coat, Sandal -> Sneaker, Ankle boot -> Sneaker. Takes the base class's
    arguments.
    """

    name: ClassVar[str] = "fashion_mnist"
    display_name: ClassVar[str] = "Fashion-MNIST"
    torchvision_class: ClassVar[type] = torchvision.datasets.FashionMNIST
    fine_classes: ClassVar[tuple[str, ...]] = FASHION_MNIST_CLASSES
    coarse_map_presets: ClassVar[dict[str, list[int]]] = {
        "semantic": _grouping(TOPS, FOOTWEAR, OTHER),
        "apparel_vs_rest": _grouping(APPAREL, NOT_APPAREL),
        "halves": halves_map(10),
    }
    coarse_class_names_presets: ClassVar[dict[str, list[str]]] = {
        "semantic": ["tops", "footwear", "other"],
        "apparel_vs_rest": ["apparel", "footwear+bag"],
        "halves": halves_names(10),
    }
    default_coarse_map: ClassVar[str] = "semantic"
    asymmetric_pairs: ClassVar[dict[int, int] | None] = {0: 6, 6: 0, 2: 4, 4: 2, 5: 7, 9: 7}
    mean: ClassVar[tuple[float, ...] | None] = (0.2860,)
    std: ClassVar[tuple[float, ...] | None] = (0.3530,)

    def package_files(self) -> dict[str, str] | None:
        """The installed Debian package's file for each raw file name, or ``None``."""
        return find_package_files(
            DEBIAN_PACKAGE,
            self._raw_names(),
            override=os.environ.get(PACKAGE_DIR_ENV),
            fallback_dirs=PACKAGE_FALLBACK_DIRS,
        )

    def other_sources(self) -> dict[str, str] | None:
        """The Debian package's files, decompressed into ``raw_folder`` by ``prepare_data``."""
        return self.package_files()

    def _missing_message(self) -> str:
        if self.package_files() is not None:
            return (
                f"{self.display_name} not found in {self.raw_folder}, but Debian's "
                f"{DEBIAN_PACKAGE} is installed: call prepare_data() before setup() "
                "(benign fit does)"
            )
        return (
            f"{self.display_name} not found: put the IDX files in {self.raw_folder}, or run "
            f"'make data' (installs Debian's {DEBIAN_PACKAGE}), or pass --data.download true "
            "(needs internet)"
        )
