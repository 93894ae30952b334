"""Save the noisy labels of a run next to its checkpoints."""

from __future__ import annotations

import os

import lightning as L


class NoiseManifest(L.Callback):
    """Write the data module's noise manifest (``noise.npz``) into the run directory at fit.

    The manifest holds the noisy indices, true and observed labels and the seed
    (INTERFACE.md, "Run directory"); it is written once, by global rank zero, and not at all
    in ``fast_dev_run`` (which writes nothing).

    Args:
        dirpath: where to write; ``None`` means ``trainer.log_dir``.
    """

    filename = "noise.npz"

    def __init__(self, dirpath: str | None = None) -> None:
        self.dirpath = dirpath

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or trainer.datamodule is None or trainer.fast_dev_run:
            return
        dirpath = self.dirpath or trainer.log_dir  # log_dir is collective: every rank asks
        if trainer.is_global_zero and dirpath is not None:
            os.makedirs(dirpath, exist_ok=True)
            trainer.datamodule.save_noise_manifest(os.path.join(dirpath, self.filename))
