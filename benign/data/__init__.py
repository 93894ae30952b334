"""Datasets with clean, noisy, coarse and fine labels, all on one base DataModule.

``DATASETS`` maps the short names users type (``--data digits``) to class paths.
"""

from benign.data.base import BenignDataModule, RawSplits
from benign.data.cifar import CIFAR10DataModule, CIFAR100DataModule
from benign.data.datasets import IndexedTensorDataset, RandomCropFlip, collate_batch
from benign.data.digits import DigitsDataModule
from benign.data.fashion_mnist import FashionMNISTDataModule
from benign.data.loaders import eval_loader
from benign.data.mnist import MNISTDataModule
from benign.data.mnist5k import MNIST5kDataModule
from benign.data.synthetic import SyntheticDataModule
from benign.registry import Registry

DATASETS = Registry(
    "dataset",
    {
        "digits": "benign.data.DigitsDataModule",
        "mnist": "benign.data.MNISTDataModule",
        "mnist5k": "benign.data.MNIST5kDataModule",
        "fashion_mnist": "benign.data.FashionMNISTDataModule",
        "cifar10": "benign.data.CIFAR10DataModule",
        "cifar100": "benign.data.CIFAR100DataModule",
        "synthetic": "benign.data.SyntheticDataModule",
    },
)

__all__ = [
    "DATASETS",
    "BenignDataModule",
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "IndexedTensorDataset",
    "MNIST5kDataModule",
    "MNISTDataModule",
    "RandomCropFlip",
    "RawSplits",
    "SyntheticDataModule",
    "collate_batch",
    "eval_loader",
]
