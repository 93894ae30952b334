"""The callbacks a fit adds for its run folder, and the clean-up of a run that never trained."""

from __future__ import annotations

import os
import shutil
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint

from benign.callbacks import NoiseManifest
from benign.callbacks.fault_tolerance import EpochSeed, PreemptionCheckpoint
from benign.run_dir import RunLocation


def add_run_callbacks(callbacks: list[Any], location: RunLocation) -> None:
    """What every fit writes into its run folder: the best and last checkpoints (unless the
    config has its own), the noise manifest, and the fault-tolerance callbacks."""
    checkpoints = [cb for cb in callbacks if isinstance(cb, ModelCheckpoint)]
    for checkpoint in checkpoints:
        if checkpoint.dirpath is None:
            checkpoint.dirpath = location.checkpoint_dir
    if not checkpoints:
        callbacks.append(
            ModelCheckpoint(
                dirpath=location.checkpoint_dir,
                filename="best-epoch{epoch:03d}",
                monitor="val/acc",
                mode="max",
                save_top_k=1,
                auto_insert_metric_name=False,
            )
        )
        # Lightning's save_last refreshes last.ckpt only when a best checkpoint is saved; this
        # one writes the latest state every epoch (the final model; what --ckpt_path last resumes).
        callbacks.append(
            ModelCheckpoint(
                dirpath=location.checkpoint_dir, filename="last", enable_version_counter=False
            )
        )
    if not any(isinstance(cb, NoiseManifest) for cb in callbacks):
        callbacks.append(NoiseManifest(dirpath=location.path))
    # Fault tolerance: exact resumes at epoch boundaries, a checkpoint on preemption.
    if not any(isinstance(cb, EpochSeed) for cb in callbacks):
        callbacks.append(EpochSeed())
    if not any(isinstance(cb, PreemptionCheckpoint) for cb in callbacks):
        callbacks.append(PreemptionCheckpoint(dirpath=location.checkpoint_dir))


def remove_incomplete_run_dir(path: str | None) -> None:
    """After a failure, delete the run directory an invocation created if it holds no
    checkpoint: a run that never trained leaves nothing half-written behind."""
    if path is None or not os.path.isdir(path):
        return
    checkpoint_dir = os.path.join(path, "checkpoints")
    if os.path.isdir(checkpoint_dir) and os.listdir(checkpoint_dir):
        return
    shutil.rmtree(path, ignore_errors=True)
