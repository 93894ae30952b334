"""Save the noisy labels of a run next to its checkpoints."""

from __future__ import annotations

import os

import lightning as L


class NoiseManifest(L.Callback):
    """Write the data module's noise manifest (``noise.npz``) into the run directory at fit.

    The manifest holds the noisy indices, true and observed labels and the seed
    (INTERFACE.md, "Run directory"); it is written once, by global rank zero.
    """

    filename = "noise.npz"

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or trainer.datamodule is None:
            return
        log_dir = trainer.log_dir  # collective: every rank must ask
        if trainer.is_global_zero and log_dir is not None:
            os.makedirs(log_dir, exist_ok=True)
            trainer.datamodule.save_noise_manifest(os.path.join(log_dir, self.filename))
