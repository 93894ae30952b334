"""Save the noisy labels of a run next to its checkpoints."""

from __future__ import annotations

import os

import lightning as L


class NoiseManifest(L.Callback):
    """Write the data module's noise manifest (``noise.npz``) into the run directory at fit.

    The manifest holds the noisy indices, true and observed labels and the seed
    (INTERFACE.md, "Run directory"); it is written by global rank zero at setup, again when a
    resumed run starts training (its labels restored from the checkpoint), and not at all in
    ``fast_dev_run``.

    Args:
        dirpath: where to write; ``None`` means ``trainer.log_dir``.
    """

    filename = "noise.npz"

    def __init__(self, dirpath: str | None = None) -> None:
        self.dirpath = dirpath

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            self._write(trainer)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.ckpt_path:  # a resumed run restored its labels from the checkpoint after setup
            self._write(trainer)

    def _write(self, trainer: L.Trainer) -> None:
        if trainer.datamodule is None or trainer.fast_dev_run:
            return
        dirpath = self.dirpath or trainer.log_dir  # log_dir is collective: every rank asks
        if trainer.is_global_zero and dirpath is not None:
            os.makedirs(dirpath, exist_ok=True)
            trainer.datamodule.save_noise_manifest(os.path.join(dirpath, self.filename))
