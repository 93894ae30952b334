"""``config.yaml`` in the run folder and the same config in wandb, written once per run."""

from __future__ import annotations

import os
from typing import Any

import yaml
from lightning.pytorch import Trainer
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger


class SaveRunConfig(SaveConfigCallback):
    """Write ``config.yaml`` into the run directory and send the same config to wandb.

    A resumed run keeps the ``config.yaml`` (and wandb config) it was started with."""

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        log_dir = trainer.log_dir  # collective: every rank asks
        config_path = os.path.join(log_dir or "", self.config_filename)
        # A fit finds a config.yaml only in a run it resumes (a new or restarted run has none).
        if stage == "fit" and os.path.isfile(config_path):
            return
        super().setup(trainer, pl_module, stage)

    def save_config(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        if loggers:
            config = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
            for logger in loggers:
                logger.experiment.config.update(config, allow_val_change=True)
