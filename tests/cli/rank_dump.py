"""Test-only callbacks for the DDP test: every rank writes its noise manifest, and the real
:class:`~benign.callbacks.Memorization` scoring can run at ``benign validate`` / ``benign test``."""

import os

import lightning as L
import numpy as np

from benign.callbacks import Memorization


class RankDump(L.Callback):
    """Every DDP rank writes the labels and the noise manifest its data module drew at setup.

    ``rank<r>-<stage>.npz``: ``observed``, ``true`` and ``world_size``;
    ``rank<r>-<stage>-noise.npz``: the manifest through the data module's own writer.
    """

    def __init__(self, dirpath: str) -> None:
        self.dirpath = dirpath

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        dm = trainer.datamodule
        os.makedirs(self.dirpath, exist_ok=True)
        prefix = os.path.join(
            self.dirpath, f"rank{trainer.global_rank}-{getattr(stage, 'value', stage)}"
        )
        np.savez(
            prefix + ".npz",
            observed=dm.observed_targets.numpy(),
            true=dm.true_targets.numpy(),
            world_size=trainer.world_size,
        )
        dm.save_noise_manifest(prefix + "-noise.npz")


class MemorizationAtEval(Memorization):
    """:class:`Memorization` scored at the end of validation outside ``fit`` (on the weights of
    ``--ckpt_path``), with the same code, loader sharding and rank reduction as during fit.

    Use ``every_n_epochs=1``: outside fit the trainer's ``current_epoch`` is 0.
    """

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        return  # fit is scored by the real callback in the fit config

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != "fit" and not trainer.sanity_checking:
            super().on_train_epoch_end(trainer, pl_module)
