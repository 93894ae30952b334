"""``benign predict`` writes what it predicts: ``predictions.csv`` in the run folder."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter

PREDICTIONS_FILE = "predictions.csv"
log = logging.getLogger("benign")


class PredictionWriter(BasePredictionWriter):
    """Write one row per predicted point: ``index`` (its index in the split), ``label``,
    ``prediction`` and the softmax probability of each class (``prob_<class>``), sorted by index.

    Under DDP every rank writes its shard, and global rank zero joins them into one file.

    Args:
        output_dir: folder of ``predictions.csv`` (``None``: the trainer's log directory, i.e. the
            run folder of the checkpoint).
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.output_dir = output_dir
        self.path: str | None = None

    def write_on_epoch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        predictions: Any,
        batch_indices: Any,
    ) -> None:
        folder = self.output_dir or trainer.log_dir or trainer.default_root_dir
        os.makedirs(folder, exist_ok=True)
        batches = _flatten_batches(predictions)
        table = _rows(batches) if batches else pd.DataFrame()
        self.path = os.path.join(folder, PREDICTIONS_FILE)
        if trainer.world_size == 1:
            table.to_csv(self.path, index=False)
            log.info(f"predictions of {len(table)} points written to {self.path}")
            return
        shard = os.path.join(folder, f".{PREDICTIONS_FILE}.rank{trainer.global_rank}")
        table.to_csv(shard, index=False)
        trainer.strategy.barrier("predictions")
        if trainer.is_global_zero:
            shards = [os.path.join(folder, f".{PREDICTIONS_FILE}.rank{r}")
                      for r in range(trainer.world_size)]  # fmt: skip
            joined = pd.concat([pd.read_csv(p) for p in shards if os.path.getsize(p) > 1])
            # a DistributedSampler pads the last shard by repeating points: keep each index once
            joined = joined.drop_duplicates("index").sort_values("index")
            joined.to_csv(self.path, index=False)
            for path in shards:
                os.remove(path)
            log.info(f"predictions of {len(joined)} points written to {self.path}")
        trainer.strategy.barrier("predictions-joined")


def _flatten_batches(predictions: Any) -> list[dict[str, torch.Tensor]]:
    """Lightning gives a list of batch outputs, or a list per predict dataloader."""
    if predictions and isinstance(predictions[0], list):
        return [batch for loader in predictions for batch in loader]
    return list(predictions or [])


def _rows(batches: list[dict[str, torch.Tensor]]) -> pd.DataFrame:
    logits = torch.cat([b["logits"].float() for b in batches]).cpu()
    probabilities = torch.softmax(logits, dim=1).numpy()
    table = pd.DataFrame(
        {
            "index": torch.cat([b["index"] for b in batches]).cpu().numpy(),
            "label": torch.cat([b["target"] for b in batches]).cpu().numpy(),
            "prediction": logits.argmax(1).numpy(),
        }
    )
    for k in range(probabilities.shape[1]):
        table[f"prob_{k}"] = np.round(probabilities[:, k], 6)
    return table.sort_values("index", kind="stable")
