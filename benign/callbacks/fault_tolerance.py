"""Runs that survive faults: a checkpoint on preemption, and per-epoch seeding for exact resumes.

A killed run (SIGKILL, a crash) resumes with ``benign fit ... --ckpt_path last`` from the last
epoch-end ``last.ckpt``: the noisy labels come back from the checkpoint (never re-drawn), and with
:class:`EpochSeed` and the data modules' epoch-seeded shuffling, the resumed epochs are exactly
those of an uninterrupted run. A preempted run (SIGTERM, or SIGUSR1 as SLURM sends before the
time limit) first writes its current, mid-epoch state with :class:`PreemptionCheckpoint`.
"""

from __future__ import annotations

import logging
import os
import random
import signal
from types import FrameType
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger("benign.callbacks")


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed derived from ``(seed, epoch)``; distinct pairs give unrelated streams."""
    return int(np.random.SeedSequence([seed % 2**32, epoch]).generate_state(1)[0])


class EpochSeed(L.Callback):
    """Reseed torch, numpy and ``random`` at the start of every training epoch from
    ``(seed, epoch)``, so that the training randomness of an epoch (attack random starts,
    dropout, augmentation) does not depend on what ran before it: a run resumed at an epoch
    boundary continues exactly as an uninterrupted one.

    Args:
        seed: the base seed; ``None`` means ``seed_everything``'s (``PL_GLOBAL_SEED``), and no
            reseeding at all when the run is not seeded.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seed = self.seed
        if seed is None:
            env = os.environ.get("PL_GLOBAL_SEED")
            if env is None:
                return
            seed = int(env)
        value = epoch_seed(seed, trainer.current_epoch)
        torch.manual_seed(value)  # also every CUDA device
        np.random.seed(value)
        random.seed(value)


class PreemptionCheckpoint(Checkpoint):
    """On SIGTERM, SIGUSR1 or Ctrl-C during ``fit``, save the current state to ``last.ckpt``
    before exiting, so ``--ckpt_path last`` resumes from where the run stopped.

    Lightning stops after the running batch on SIGTERM; this callback makes SIGUSR1 (SLURM's
    warning signal, ``#SBATCH --signal=USR1@90``) do the same outside SLURM's auto-requeue,
    which Lightning handles itself (it saves an ``hpc_ckpt`` and requeues the job). The run exits
    with status 143. The state is mid-epoch: resuming runs the interrupted epoch's remaining
    number of batches (Lightning restarts that epoch's order, the loader not being resumable),
    so unlike a resume from an epoch-end checkpoint it is not bit-exact, but no step is lost.

    Args:
        dirpath: the run's ``checkpoints/`` directory.
        filename: checkpoint name without extension; ``last`` makes ``--ckpt_path last`` pick it.
    """

    def __init__(self, dirpath: str, filename: str = "last") -> None:
        self.dirpath = dirpath
        self.filename = filename
        #: The signal that stopped the run, if any.
        self.received: int | None = None
        self._previous_handler: Any = None
        self._trainer: L.Trainer | None = None

    @property
    def ckpt_path(self) -> str:
        return os.path.join(self.dirpath, f"{self.filename}.ckpt")

    # -- signals ---------------------------------------------------------------------------
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # After Lightning installed its own handlers, which it restores when fit ends.
        self.received = None
        self._trainer = trainer
        if not hasattr(signal, "SIGUSR1") or _slurm_requeues(trainer):
            return
        try:
            self._previous_handler = signal.signal(signal.SIGUSR1, self._on_signal)
        except ValueError:  # not the main thread: leave signals alone
            self._previous_handler = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        # Treated as SIGTERM: Lightning finishes the running batch, then raises SIGTERMException.
        connector = getattr(self._trainer, "_signal_connector", None)
        if connector is not None:
            connector.received_sigterm = True

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if self.received is None and trainer.received_sigterm:
            self.received = signal.SIGTERM
        elif self.received is not None and not trainer.received_sigterm:
            raise SIGTERMException  # a Lightning without the flag: stop from here

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore_handler()

    def _restore_handler(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGUSR1, self._previous_handler)
            self._previous_handler = None

    # -- the checkpoint --------------------------------------------------------------------
    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore_handler()
        if not isinstance(exception, (SIGTERMException, KeyboardInterrupt)):
            return
        if trainer.state.fn != TrainerFn.FITTING:
            return
        trainer.save_checkpoint(self.ckpt_path)
        if trainer.is_global_zero:
            name = signal.Signals(self.received or signal.SIGTERM).name
            if isinstance(exception, KeyboardInterrupt):
                name = "Ctrl-C"
            log.warning(
                f"stopped by {name} in epoch {trainer.current_epoch} at step "
                f"{trainer.global_step}: saved {self.ckpt_path}; resume with --ckpt_path last"
            )


def _slurm_requeues(trainer: L.Trainer) -> bool:
    """Whether Lightning's own SLURM auto-requeue handles SIGUSR1 for this trainer."""
    connector = getattr(trainer, "_accelerator_connector", None)
    environment = getattr(connector, "cluster_environment", None)
    return isinstance(environment, SLURMEnvironment) and environment.auto_requeue
