"""The shared DataModule: splits, label level, label noise, loaders and the noise manifest.

A dataset subclass only says where its arrays come from (``_load_raw``), which files it needs
(``_check_files``, ``_download``), its class names, coarse-map presets and asymmetric partners.
Everything about labels is orthogonal to the dataset: the DataModule checks its options into a
:class:`~benign.data.spec.LabelSpec` and a :class:`~benign.data.spec.SplitSpec` and composes the
functions of :mod:`benign.data.labels` and :mod:`benign.data.manifest` on them.

Order of operations in ``setup``: load raw arrays -> stratified validation hold-out (seeded by
``split_seed``) -> ``train_subset`` (stratified) -> labels at ``label_level`` -> noise on the
training split only (seeded by ``noise_seed``). Validation and test labels are always clean.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from torch import Tensor

from benign.data import options
from benign.data.datasets import IndexedTensorDataset, RawSplits, check_raw_labels
from benign.data.labels import TrainingLabels, draw_training_labels, restore_training_labels
from benign.data.loaders import SplitLoadersMixin
from benign.data.manifest import checkpoint_state, noise_manifest, save_manifest

log = logging.getLogger("benign.data")


def _option(spec: str, name: str) -> property:
    """A read-only attribute of the DataModule: ``name`` of its ``spec`` (see :mod:`.spec`)."""
    return property(lambda self: getattr(getattr(self, spec), name), doc=f"``{spec}.{name}``")


def _label_view(name: str) -> property:
    """A read-only view of the training split's labels (an error before ``setup``)."""
    doc = f"``{name}`` of the training split's :class:`~benign.data.labels.TrainingLabels`."
    return property(lambda self: getattr(self._require_labels(), name), doc=doc)


class BenignDataModule(SplitLoadersMixin, L.LightningDataModule):
    """Base of every benign DataModule: clean / noisy / coarse / fine labels on any dataset.

    Args:
        data_dir: where the dataset files live (torchvision's layout).
        download: fetch missing files in ``prepare_data`` (needs internet).
        noise_rate: share of training labels to corrupt, in [0, 1).
        noise_type: one of ``benign.data.noise.NOISE_TYPES`` (see :mod:`benign.data.noise_input`).
        noise_seed: seed of the noise draw (``None`` means 0).
        noise_classes: source classes of ``class_subset`` noise (``None``: the first half).
        noise_file: ``.npy``/``.npz``/``.csv`` of observed (fine) labels, one per point of the
            original training set or of the training split; overrides rate and type.
        label_level: train on ``fine`` labels or on ``coarse`` superclasses.
        coarse_map: a preset name or a list of each fine class's superclass (``None``: default).
        train_subset: keep only this count or fraction of the training split (stratified).
        val_split: count or fraction of the original training set held out as clean validation.
        split_seed: seed of the validation hold-out and of ``train_subset``.
        num_folds, holdout_fold: do not train on fold ``holdout_fold`` of ``num_folds`` (cross-fit).
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
        num_folds: int | None = None,
        holdout_fold: int | None = None,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ) -> None:
        super().__init__()
        self.data_dir, self.download = str(data_dir), bool(download)
        #: How the training labels are made (level, coarse map, noise).
        self.label_spec = options.check_label_options(
            self,
            noise_rate=noise_rate,
            noise_type=noise_type,
            noise_seed=noise_seed,
            noise_classes=noise_classes,
            noise_file=noise_file,
            label_level=label_level,
            coarse_map=coarse_map,
        )
        #: Which points are held out for validation and kept for training.
        self.split_spec = options.check_split_options(val_split, train_subset, split_seed)
        self.split_spec = options.check_split_folds(self, num_folds, holdout_fold)
        self.batch_size, self.eval_batch_size, self.num_workers = options.check_loader_options(
            batch_size, eval_batch_size, num_workers
        )
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else bool(pin_memory)
        self._raw: RawSplits | None = None
        self._labels: TrainingLabels | None = None
        self._pending_state: dict[str, Any] | None = None  # a checkpoint's, applied at build()
        self._announced = False  # the noise line is printed once, at the first setup
        self.train_dataset: IndexedTensorDataset | None = None
        self.train_eval_dataset: IndexedTensorDataset | None = None
        self.val_dataset: IndexedTensorDataset | None = None
        self.test_dataset: IndexedTensorDataset | None = None
        self.val_source_indices: Tensor | None = None

    noise_rate = _option("label_spec", "noise_rate")
    noise_type = _option("label_spec", "noise_type")
    noise_seed = _option("label_spec", "noise_seed")
    noise_file = _option("label_spec", "noise_file")
    label_level = _option("label_spec", "label_level")
    coarse_map_name = _option("label_spec", "coarse_map_name")
    train_subset = _option("split_spec", "train_subset")
    val_split = _option("split_spec", "val_split")
    split_seed = _option("split_spec", "split_seed")

    @property
    def noise_classes(self) -> list[int]:
        """Source classes of ``class_subset`` noise."""
        return list(self.label_spec.noise_classes)

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
    fine_num_classes = _option("label_spec", "fine_num_classes")
    num_classes = _option("label_spec", "num_classes")  # the model's output size
    label_names = _option("label_spec", "label_names")  # class names at ``label_level``

    @property
    def coarse_num_classes(self) -> int:
        """Number of superclasses of the configured ``coarse_map``."""
        return len(self.label_spec.coarse_names)

    @property
    def class_names(self) -> list[str]:
        """Fine class names, in label order."""
        return list(self.fine_classes)

    @property
    def coarse_class_names(self) -> list[str]:
        """Superclass names of the configured ``coarse_map``."""
        return list(self.label_spec.coarse_names)

    @property
    def coarse_map(self) -> Tensor:
        """LongTensor ``[fine_num_classes]``: the superclass index of each fine class."""
        return torch.as_tensor(self.label_spec.coarse_array, dtype=torch.long)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. ``(3, 32, 32)``."""
        return tuple(self.image_shape)

    # -- training-split labels, available after setup ---------------------------------------
    true_targets = _label_view("true_targets")  # LongTensor [N_train], clean, at label_level
    observed_targets = _label_view("observed_targets")  # LongTensor [N_train], trained on
    noisy_mask = _label_view("noisy_mask")  # BoolTensor [N_train], observed != true
    train_source_indices = _label_view("source_indices")  # LongTensor [N_train], original index

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
        labels = check_raw_labels(raw, self.fine_num_classes, self.name, self.data_dir)
        val_idx, pool = self.split_spec.split(labels)
        self.val_source_indices = torch.from_numpy(val_idx)
        to_level = self.label_spec.to_level
        self.val_dataset = IndexedTensorDataset(
            raw.train_images[self.val_source_indices], torch.from_numpy(to_level(labels[val_idx]))
        )
        self.test_dataset = IndexedTensorDataset(
            raw.test_images, torch.from_numpy(to_level(raw.test_labels))
        )
        pending, self._pending_state = self._pending_state, None
        if pending:
            self._restore(pending, pool)
        else:
            self._set_labels(
                draw_training_labels(self.label_spec, labels, pool, raw.train_images, self.data_dir)
            )

    # -- the noise manifest and the checkpointed labels ---------------------------------------
    def noise_manifest(self) -> dict[str, np.ndarray]:
        """Everything needed to audit or reproduce the training labels, as numpy arrays."""
        return noise_manifest(self.label_spec, self.split_spec, self._require_labels())

    def save_noise_manifest(self, path: str) -> None:
        """Write :meth:`noise_manifest` to ``path`` (``noise.npz``) atomically."""
        save_manifest(path, self.noise_manifest())

    def state_dict(self) -> dict[str, Any]:
        """The training split and its observed labels, so a resumed run never redraws noise."""
        if self._labels is None:
            return dict(self._pending_state or {})
        return checkpoint_state(self.label_spec, self._labels, self.input_shape)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the saved training labels (now if set up, else at the next ``setup``)."""
        if not state_dict:
            return
        if self._labels is None:
            self._pending_state = dict(state_dict)
        else:
            self._restore(state_dict, self._labels.source_indices.numpy())

    def _restore(self, state: dict[str, Any], sources: np.ndarray) -> None:
        """Install a checkpoint's labels of the training split ``sources`` and say so."""
        assert self._raw is not None
        fine = np.asarray(self._raw.train_labels)
        self._set_labels(
            restore_training_labels(self.label_spec, state, fine, sources, self.data_dir)
        )
        self._announced = True
        self._log_noise(" [restored from checkpoint]")

    def _log_noise(self, suffix: str = "") -> None:
        """The one ``noise: ...`` info line (rank zero only)."""
        if rank_zero_only.rank == 0 and self._labels is not None:
            log.info(self._labels.summary(self.noise_file) + suffix)

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
