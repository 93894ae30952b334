"""Datasets with clean, noisy, coarse and fine labels, all on one base DataModule.

``DATASETS`` maps the short names users type (``--data digits``) to class paths.
"""

from benign.data.base import BenignDataModule, RawSplits
from benign.data.datasets import IndexedTensorDataset, RandomCropFlip, collate_batch
from benign.data.digits import DigitsDataModule
from benign.data.loaders import eval_loader

DATASETS: dict[str, str] = {
    "digits": "benign.data.DigitsDataModule",
}

__all__ = [
    "DATASETS",
    "BenignDataModule",
    "DigitsDataModule",
    "IndexedTensorDataset",
    "RandomCropFlip",
    "RawSplits",
    "collate_batch",
    "eval_loader",
]
