"""``benign bench --data-share DATASET``: the data loader's share of an ERM epoch on real data.

Issue 9 serves MNIST-like data from in-memory uint8 tensors converted to float a batch at a time
(:class:`~benign.data.IndexedTensorDataset`), with the target that loading takes under 5% of an
ERM epoch on Fashion-MNIST. This measures it on the dataset's own ``configs/<dataset>/erm.yaml``
(backbone, optimiser, batch size, loader settings; ``data_dir`` from ``--data-dir``):

- ``loader``: iterating the data module's training loader alone (sampler, batched fetch with
  ``__getitems__``, uint8 -> float conversion, collate);
- ``epoch``: PAPER.md's ERM training steps in a ``lightning.Trainer`` fit loop over the same
  batches (the same shuffled order: it is a function of the seed and the epoch only).

Both are timed the same way: the first batch only sets the origin (loader and fit-loop start-up
are not timed), then ``batches`` batches. ``data_loader_share`` = median loader / median epoch.
"""

from __future__ import annotations

import gc
import os
import warnings
from typing import Any

import torch
from lightning.pytorch.cli import LightningArgumentParser
from torch.utils.data import DataLoader

from benign.bench.timing import Clock, StepTimer, step_timing_trainer, summary_ms
from benign.data import DATASETS, BenignDataModule
from benign.errors import ConfigError, DataNotFoundError
from benign.methods import BenignModule
from benign.repro.config import CONFIG_DIR, load_fit_config


def data_share_datasets() -> tuple[str, ...]:
    """``--data-share`` choices: the datasets with a ``configs/<dataset>/erm.yaml``."""
    return tuple(name for name in DATASETS if (CONFIG_DIR / name / "erm.yaml").is_file())


def config_file(dataset: str) -> str:
    """The ERM config whose model and data settings are timed."""
    return str(CONFIG_DIR / dataset / "erm.yaml")


def build_erm(dataset: str, data_dir: str | None) -> tuple[BenignModule, BenignDataModule]:
    """The ``model`` and ``data`` of ``configs/<dataset>/erm.yaml``, instantiated as ``benign
    fit`` does (``num_classes`` linked from the data module); ``data_dir`` replaces the config's."""
    document = load_fit_config(config_file(dataset))
    data = document["data"]
    if data_dir is not None:
        data.setdefault("init_args", {})["data_dir"] = data_dir
    parser = LightningArgumentParser(parser_mode="omegaconf")
    parser.add_lightning_class_args(BenignModule, "model", subclass_mode=True)
    parser.add_lightning_class_args(BenignDataModule, "data", subclass_mode=True)
    parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")
    config = parser.parse_object({"model": document["model"], "data": data})
    # ``instantiate`` (jsonargparse >= 4.49) replaced ``instantiate_classes``.
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    init = instantiate(config)
    return init.model, init.data


def _time_loader(loader: DataLoader, batches: int, clock: Clock) -> float:
    """Seconds to fetch ``batches`` batches after the first one (which sets the origin)."""
    iterator = iter(loader)
    next(iterator)
    start = clock()
    for _ in range(batches):
        next(iterator)
    return clock() - start


class _DataShare:
    """The ERM model, the data module and the two timings of one ``--data-share`` run."""

    def __init__(
        self,
        dataset: str,
        *,
        data_dir: str | None,
        device: str,
        precision: str,
        clock: str,
        seed: int,
    ) -> None:
        torch.manual_seed(seed)
        self.device = torch.device(device)
        self.clock = Clock(self.device, clock)
        self.precision = precision
        self.model, self.data = build_erm(dataset, data_dir)
        try:
            self.data.prepare_data()
            self.data.setup("fit")
        except DataNotFoundError as err:
            raise DataNotFoundError(f"benign bench: --data-share {dataset}: {err}") from None

    def loader(self) -> DataLoader:
        """The training loader at epoch 0: the batches every timing sees, in the same order."""
        return self.data.train_dataloader()

    def time_loader(self, batches: int) -> float:
        gc.collect()
        return _time_loader(self.loader(), batches, self.clock)

    def time_epoch(self, batches: int) -> float:
        """Seconds of ``batches`` ERM training steps after the first one, in a Lightning fit."""
        gc.collect()
        timer = StepTimer(self.clock)
        trainer = step_timing_trainer(self.device, self.precision, batches, timer)
        with warnings.catch_warnings():  # the config's validation_step, with no val loader
            warnings.filterwarnings("ignore", message=".*no `val_dataloader`")
            trainer.fit(self.model, train_dataloaders=self.loader())
        return timer.stamps[-1] - timer.stamps[0]


def measure_data_share(
    dataset: str,
    *,
    batches: int,
    rounds: int,
    data_dir: str | None = None,
    device: str = "cpu",
    precision: str = "32-true",
    clock: str = "wall",
    seed: int = 0,
) -> dict[str, Any]:
    """Time the training loader alone and ERM epochs over the same batches, ``rounds`` times each
    (alternating which goes first), after an untimed warm-up of one batch each.

    ``batches`` is capped at the loader's length minus the origin batch. Returns the JSON-ready
    ``data_share`` object (medians in milliseconds, ``share`` = loader / epoch).
    """
    bench = _DataShare(
        dataset, data_dir=data_dir, device=device, precision=precision, clock=clock, seed=seed
    )
    available = len(bench.loader()) - 1
    if available < 1:
        raise ConfigError(
            f"benign bench: --data-share {dataset}: the training split has one batch: "
            "nothing to time after the first"
        )
    batches = min(batches, available)
    bench.time_loader(1)  # warm-up: first-touch of the images, allocator, kernels; not timed
    bench.time_epoch(1)
    samples: dict[str, list[float]] = {"loader": [], "epoch": []}
    for round_index in range(rounds):
        order = ("loader", "epoch") if round_index % 2 == 0 else ("epoch", "loader")
        for name in order:
            timed = bench.time_loader if name == "loader" else bench.time_epoch
            samples[name].append(timed(batches))
    median = {name: summary_ms(times)["median"] for name, times in samples.items()}
    return {
        "dataset": dataset,
        "config": os.path.relpath(config_file(dataset), CONFIG_DIR.parent),
        "backbone": type(bench.model.backbone).__name__,
        "batch_size": bench.data.batch_size,
        "num_workers": bench.data.num_workers,
        "train_size": len(bench.data.train_dataset),
        "batches": batches,
        "rounds": rounds,
        "loader_ms": median["loader"],
        "epoch_ms": median["epoch"],
        "share": median["loader"] / median["epoch"],
        "samples_ms": {name: [1000.0 * t for t in times] for name, times in samples.items()},
    }
