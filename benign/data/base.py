"""The shared DataModule: splits, label level, label noise, loaders and the noise manifest.

A dataset subclass only says where its arrays come from (``_load_raw``), which files it needs
(``_check_files``, ``_download``), its class names, coarse-map presets and asymmetric partners.
Everything about labels is here, orthogonal to the dataset.

Order of operations in ``setup``: load raw arrays -> stratified validation hold-out (seeded by
``split_seed``) -> ``train_subset`` (stratified) -> labels at ``label_level`` -> noise on the
training split only (seeded by ``noise_seed``). Validation and test labels are always clean.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from torch import Tensor

from benign.data import options
from benign.data.coarse import resolve_coarse_map
from benign.data.datasets import IndexedTensorDataset
from benign.data.labels import TrainingLabels, build_training_labels
from benign.data.loaders import SplitLoadersMixin
from benign.data.manifest import NoiseStateMixin
from benign.data.splits import resolve_count, split_rng, stratified_split
from benign.errors import ConfigError

log = logging.getLogger("benign.data")


def error_reason(err: BaseException) -> str:
    """The first line of an exception's message (its type name when empty), for one-line errors."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class RawSplits(NamedTuple):
    """A dataset's original train/test arrays: images ``[N, ...]`` and fine labels ``[N]``."""

    train_images: Tensor
    train_labels: np.ndarray
    test_images: Tensor
    test_labels: np.ndarray


class BenignDataModule(SplitLoadersMixin, NoiseStateMixin, L.LightningDataModule):
    """Base of every benign DataModule: clean / noisy / coarse / fine labels on any dataset.

    Args:
        data_dir: where the dataset files live (torchvision's layout).
        download: fetch missing files in ``prepare_data`` (needs internet).
        noise_rate: share of training labels to corrupt, in [0, 1).
        noise_type: ``symmetric``, ``asymmetric`` or ``class_subset`` (see :mod:`benign.data.noise`).
        noise_seed: seed of the noise draw (``None`` means 0).
        noise_classes: source classes of ``class_subset`` noise (``None``: the first half).
        noise_file: ``.npy``/``.npz``/``.csv`` of observed (fine) labels, one per point of the
            original training set or of the training split; overrides rate and type.
        label_level: train on ``fine`` labels or on ``coarse`` superclasses.
        coarse_map: a preset name or a list giving each fine class's superclass
            (``None``: the dataset's default preset).
        train_subset: keep only this count or fraction of the training split (stratified).
        val_split: count or fraction of the original training set held out as clean validation.
        split_seed: seed of the validation hold-out and of ``train_subset``.
        batch_size: training batch size.
        eval_batch_size: validation/test batch size (``None``: ``batch_size``).
        num_workers: DataLoader worker processes.
        pin_memory: pin host memory (``None``: when CUDA is available).
    """

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    fine_classes: ClassVar[tuple[str, ...]] = ()
    image_shape: ClassVar[tuple[int, ...]] = ()
    train_size: ClassVar[int | None] = None
    coarse_map_presets: ClassVar[dict[str, list[int]]] = {}
    coarse_class_names_presets: ClassVar[dict[str, list[str]]] = {}
    default_coarse_map: ClassVar[str] = ""
    asymmetric_pairs: ClassVar[dict[int, int] | None] = None
    mean: ClassVar[tuple[float, ...] | None] = None
    std: ClassVar[tuple[float, ...] | None] = None

    def __init__(
        self,
        *,
        data_dir: str = "data",
        download: bool = False,
        noise_rate: float = 0.0,
        noise_type: str = "symmetric",
        noise_seed: int | None = None,
        noise_classes: list[int] | None = None,
        noise_file: str | None = None,
        label_level: str = "fine",
        coarse_map: str | list[int] | None = None,
        train_subset: int | float | None = None,
        val_split: int | float = 0.1,
        split_seed: int = 0,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ) -> None:
        super().__init__()
        self.data_dir = str(data_dir)
        self.download = bool(download)
        self.noise_rate = options.check_noise_rate(noise_rate)
        self.noise_type = options.check_noise_type(noise_type)
        self.noise_seed = 0 if noise_seed is None else int(noise_seed)
        self.label_level = options.check_label_level(label_level)
        self._coarse, self._coarse_names, self.coarse_map_name = resolve_coarse_map(
            coarse_map,
            presets=self.coarse_map_presets,
            preset_names=self.coarse_class_names_presets,
            default=self.default_coarse_map,
            fine_names=self.fine_classes,
            dataset=self.name,
        )
        self.noise_classes = options.check_noise_classes(noise_classes, self.num_classes)
        self.noise_file = options.check_noise_file(noise_file)
        if self.noise_file is not None and self.noise_rate > 0:
            warnings.warn(
                "noise_file is set, so noise_rate and noise_type are ignored", stacklevel=2
            )
        self.train_subset = options.check_fraction_or_count(
            "train_subset", train_subset, allow_none=True, allow_all=True
        )
        self.val_split = options.check_fraction_or_count(
            "val_split", val_split, allow_none=False, allow_all=False
        )
        self.split_seed = int(split_seed)
        self.batch_size = options.check_positive_int("batch_size", batch_size)
        self.eval_batch_size = options.check_positive_int(
            "eval_batch_size", batch_size if eval_batch_size is None else eval_batch_size
        )
        self.num_workers = options.check_positive_int("num_workers", num_workers, minimum=0)
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else bool(pin_memory)
        if self.train_size is not None:
            self._split_sizes(self.train_size)
        self._raw: RawSplits | None = None
        self._labels: TrainingLabels | None = None
        self._pending_state: dict[str, Any] | None = None
        self._announced = False  # the noise line is printed once, at the first setup
        self.train_dataset: IndexedTensorDataset | None = None
        self.train_eval_dataset: IndexedTensorDataset | None = None
        self.val_dataset: IndexedTensorDataset | None = None
        self.test_dataset: IndexedTensorDataset | None = None
        self.val_source_indices: Tensor | None = None

    # -- what subclasses provide ----------------------------------------------------------------
    def _load_raw(self) -> RawSplits:
        """Read the original train/test arrays (images ``[N, ...]``, fine labels)."""
        raise NotImplementedError

    def _check_files(self) -> None:
        """Raise :class:`~benign.errors.DataNotFoundError` when the dataset's files are missing."""

    def _download(self) -> None:
        """Fetch the dataset's files into ``data_dir`` (only called when ``download`` is set)."""

    def _train_augment(self) -> Callable[[Tensor], Tensor] | None:
        """The batched training augmentation (``None``: none)."""
        return None

    # -- static facts, available right after __init__ ------------------------------------------
    @property
    def fine_num_classes(self) -> int:
        """Number of fine classes."""
        return len(self.fine_classes)

    @property
    def coarse_num_classes(self) -> int:
        """Number of superclasses of the configured ``coarse_map``."""
        return len(self._coarse_names)

    @property
    def num_classes(self) -> int:
        """Number of classes at the training ``label_level`` (the model's output size)."""
        return self.fine_num_classes if self.label_level == "fine" else self.coarse_num_classes

    @property
    def class_names(self) -> list[str]:
        """Fine class names, in label order."""
        return list(self.fine_classes)

    @property
    def coarse_class_names(self) -> list[str]:
        """Superclass names of the configured ``coarse_map``."""
        return list(self._coarse_names)

    @property
    def label_names(self) -> list[str]:
        """Class names at the training ``label_level``."""
        return self.class_names if self.label_level == "fine" else self.coarse_class_names

    @property
    def coarse_map(self) -> Tensor:
        """LongTensor ``[fine_num_classes]``: the superclass index of each fine class."""
        return torch.as_tensor(self._coarse, dtype=torch.long)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. ``(3, 32, 32)``."""
        return tuple(self.image_shape)

    # -- training-split labels, available after setup ---------------------------------------
    @property
    def true_targets(self) -> Tensor:
        """LongTensor ``[N_train]``: clean labels of the training split (at ``label_level``)."""
        return self._require_labels().true_targets

    @property
    def observed_targets(self) -> Tensor:
        """LongTensor ``[N_train]``: the labels trained on (noisy where ``noisy_mask``)."""
        return self._require_labels().observed_targets

    @property
    def noisy_mask(self) -> Tensor:
        """BoolTensor ``[N_train]``: which training labels differ from the true ones."""
        return self._require_labels().noisy_mask

    @property
    def train_source_indices(self) -> Tensor:
        """LongTensor ``[N_train]``: each training point's index in the original training set."""
        return self._require_labels().source_indices

    @property
    def realised_noise_rate(self) -> float:
        """Share of training labels that are noisy."""
        return float(self.noisy_mask.float().mean()) if len(self.noisy_mask) else 0.0

    def _require_labels(self) -> TrainingLabels:
        if self._labels is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not run yet")
        return self._labels

    # -- Lightning hooks --------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Download when asked (rank 0 only), then check the files are there."""
        if self.download:
            self._download()
        self._check_files()

    def setup(self, stage: str | None = None) -> None:
        """Build every split once (all in memory, :meth:`build`); later calls reuse them."""
        self.build()
        if not self._announced:
            self._announced = True
            self._log_noise()

    def build(self) -> None:
        """Load and check the files and build every split and the training labels, printing
        nothing: the CLI calls it before it creates a run, so bad data leaves nothing behind."""
        if self._labels is not None:
            return
        self._check_files()
        raw = self._raw = self._load_raw()
        labels = np.asarray(raw.train_labels, dtype=np.int64)
        for split, values in (("training", labels), ("test", raw.test_labels)):
            if len(values) and not 0 <= values.min() <= values.max() < self.fine_num_classes:
                raise ConfigError(
                    f"{self.name} {split} labels must be in 0..{self.fine_num_classes - 1}: the files "
                    f"in {self.data_dir} do not match this dataset"
                )
        n_val, n_sub = self._split_sizes(len(labels))
        val_idx, pool = stratified_split(labels, n_val, split_rng(self.split_seed, 1))
        if n_sub is not None:
            taken, _ = stratified_split(labels[pool], n_sub, split_rng(self.split_seed, 2))
            pool = pool[taken]
        self.val_source_indices = torch.from_numpy(val_idx)
        self.val_dataset = IndexedTensorDataset(
            raw.train_images[self.val_source_indices], self._to_level(labels[val_idx])
        )
        self.test_dataset = IndexedTensorDataset(raw.test_images, self._to_level(raw.test_labels))
        pending, self._pending_state = self._pending_state, None
        if pending:
            self._apply_state(pending, computed_sources=pool)
            self._announced = True
            self._log_noise(" [restored from checkpoint]")
        else:
            self._set_labels(build_training_labels(self, labels, pool))

    def _log_noise(self, suffix: str = "") -> None:
        """The one ``noise: ...`` info line (rank zero only)."""
        if rank_zero_only.rank == 0 and self._labels is not None:
            log.info(self._labels.summary(self.noise_file) + suffix)

    def _split_sizes(self, n_total: int) -> tuple[int, int | None]:
        """Sizes of the validation hold-out and of ``train_subset`` (None: the whole pool)."""
        n_val = resolve_count(self.val_split, n_total, "val_split", allow_all=False)
        if self.train_subset is None:
            return n_val, None
        return n_val, resolve_count(
            self.train_subset, n_total - n_val, "train_subset", allow_all=True
        )

    def _to_level(self, fine_labels: np.ndarray) -> Tensor:
        """Fine labels -> LongTensor at ``label_level``."""
        fine_labels = np.asarray(fine_labels, dtype=np.int64)
        values = self._coarse[fine_labels] if self.label_level == "coarse" else fine_labels
        return torch.as_tensor(values, dtype=torch.long)

    def _set_labels(self, labels: TrainingLabels) -> None:
        """Install the training split's labels, updating existing datasets in place."""
        assert self._raw is not None
        self._labels = labels
        images = self._raw.train_images[labels.source_indices]
        if self.train_dataset is None or self.train_eval_dataset is None:
            self.train_dataset = IndexedTensorDataset(
                images, labels.observed_targets, self._train_augment()
            )
            self.train_eval_dataset = IndexedTensorDataset(images, labels.observed_targets)
        else:
            for dataset in (self.train_dataset, self.train_eval_dataset):
                dataset.images, dataset.targets = images, labels.observed_targets
