"""A test-only callback: every DDP rank writes the labels its data module drew."""

import os

import lightning as L
import numpy as np


class RankDump(L.Callback):
    def __init__(self, dirpath: str) -> None:
        self.dirpath = dirpath

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        dm = trainer.datamodule
        os.makedirs(self.dirpath, exist_ok=True)
        np.savez(
            os.path.join(
                self.dirpath, f"rank{trainer.global_rank}-{getattr(stage, 'value', stage)}.npz"
            ),
            observed=dm.observed_targets.numpy(),
            true=dm.true_targets.numpy(),
            world_size=trainer.world_size,
        )
