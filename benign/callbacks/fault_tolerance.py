"""Runs that survive faults: exact resumes from any step, a checkpoint on preemption.

A run resumed with ``benign fit ... --ckpt_path last`` ends with the same weights and metrics as
an uninterrupted one, wherever it stopped:

- killed (SIGKILL, a crash): it resumes from the last epoch-end ``last.ckpt``; :class:`EpochSeed`
  reseeds every epoch from ``(seed, epoch)`` and the training order is a function of
  ``(seed, epoch)`` (:class:`~benign.data.loaders.EpochShuffleSampler`);
- stopped (SIGTERM, SIGUSR1 as SLURM sends before the time limit, Ctrl-C):
  :class:`PreemptionCheckpoint` lets the running batch finish, saves the state to ``last.ckpt``
  and exits with status 143. The checkpoint holds the position in the epoch (the loader skips the
  batches already trained on), the random generators (:class:`EpochSeed`) and the running epoch
  metrics (the method's), so the resumed epoch continues exactly.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
from types import FrameType
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from benign.slurm import job_key, request_requeue, requeue_this_job

log = logging.getLogger("benign.callbacks")

#: The signals that stop a run gracefully (at the end of the running batch).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGUSR1", "SIGINT") if hasattr(signal, name)
)


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed derived from ``(seed, epoch)``; distinct pairs give unrelated streams."""
    return int(np.random.SeedSequence([seed % 2**32, epoch]).generate_state(1)[0])


def random_state() -> dict[str, Any]:
    """The global generators of torch (CPU and every initialised CUDA device), numpy and
    ``random``, as tensors and numbers (checkpoints load with ``weights_only``)."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    version, words, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
        "random": [version, torch.tensor(words, dtype=torch.int64), gauss_next],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict[str, Any]) -> None:
    """Restore what :func:`random_state` returned."""
    torch.set_rng_state(state["torch"])
    keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, words, gauss_next = state["random"]
    random.setstate((version, tuple(int(w) for w in words.tolist()), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class EpochSeed(L.Callback):
    """Reseed torch, numpy and ``random`` at the start of every training epoch from
    ``(seed, epoch)``, and carry the generators' state through a mid-epoch checkpoint.

    The training randomness of an epoch (attack random starts, dropout, augmentation) then does
    not depend on what ran before it, so a run resumed at an epoch boundary continues exactly as
    an uninterrupted one; a checkpoint written part-way through an epoch stores the generators,
    and the resumed run restores them before its first batch.

    Args:
        seed: the base seed; ``None`` means ``seed_everything``'s (``PL_GLOBAL_SEED``), and no
            reseeding at all when the run is not seeded.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._trainer: L.Trainer | None = None
        self._restored: dict[str, Any] | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer

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

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A run restarted mid-epoch gets no on_train_epoch_start for that epoch: restore the
        # generators as they were after the last batch it trained on.
        restored, self._restored = self._restored, None
        if restored and restored.get("mid_epoch") and restored["epoch"] == trainer.current_epoch:
            set_random_state(restored["state"])

    def state_dict(self) -> dict[str, Any]:
        trainer = self._trainer
        if trainer is None or trainer.state.fn != TrainerFn.FITTING:
            return {}
        loop = trainer.fit_loop.epoch_loop
        done = loop.batch_progress.current.completed
        return {
            "epoch": trainer.current_epoch,
            "mid_epoch": 0 < done < trainer.num_training_batches,
            "state": random_state(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = state_dict or None


class PreemptionCheckpoint(Checkpoint):
    """On SIGTERM, SIGUSR1 or Ctrl-C during ``fit``: finish the running batch, save the state to
    ``last.ckpt`` and exit (status 143), so ``--ckpt_path last`` resumes exactly where it stopped.

    - Every rank of a DDP run stops after the same batch: the ranks agree after each batch (one
      small all-reduce of "was a stop signal received"), so collectives never interleave.
    - Under SLURM, SIGUSR1 (``#SBATCH --signal=USR1@90``, the warning before the time limit) also
      requeues the job (``scontrol requeue``, array task included); the requeued job finds its
      run directory by its job id and resumes it. This replaces Lightning's own SLURM handler,
      which writes ``hpc_ckpt_*.ckpt`` where other runs can read it.
    - A run that cannot save within ``grace_s`` seconds of the signal (say, a collective that
      never returns) gives up: it logs so, requeues if asked to, and exits with status 143; its
      last epoch-end ``last.ckpt`` is what resumes.
    - A second Ctrl-C interrupts at once, as usual.

    Args:
        dirpath: the run's ``checkpoints/`` directory.
        filename: checkpoint name without extension; ``last`` makes ``--ckpt_path last`` pick it.
        grace_s: seconds from the signal to giving up on a clean stop.
    """

    def __init__(self, dirpath: str, filename: str = "last", grace_s: float = 120.0) -> None:
        self.dirpath = dirpath
        self.filename = filename
        self.grace_s = grace_s
        #: The signal that stopped the run, if any.
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._trainer: L.Trainer | None = None
        self._watchdog: threading.Timer | None = None

    @property
    def ckpt_path(self) -> str:
        return os.path.join(self.dirpath, f"{self.filename}.ckpt")

    # -- signals ---------------------------------------------------------------------------
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # After Lightning installed its handlers (its SIGTERM handler broadcasts from inside the
        # signal handler, which can interleave with other collectives): ours replace them.
        self.received = None
        self._trainer = trainer
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            if signum == getattr(signal, "SIGINT", None):
                raise KeyboardInterrupt  # a second Ctrl-C: stop now
            return
        self.received = signum
        self._watchdog = threading.Timer(self.grace_s, self._give_up)
        self._watchdog.daemon = True
        self._watchdog.start()
        launcher = getattr(getattr(self._trainer, "strategy", None), "launcher", None)
        if launcher is not None and hasattr(launcher, "kill") and signum != signal.SIGINT:
            launcher.kill(signum)  # the processes Lightning started for the other local ranks

    def _give_up(self) -> None:
        name = signal.Signals(self.received or signal.SIGTERM).name
        log.warning(
            f"{name}: no clean stop within {self.grace_s:g} s (a rank may be stuck in a "
            "collective); exiting without a new checkpoint, the last epoch's last.ckpt resumes"
        )
        if self.received == getattr(signal, "SIGUSR1", None):
            requeue_this_job()
        os._exit(143)

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        # After the epoch's last batch come its validation and epoch-end logging: stop after those.
        if batch_idx + 1 < trainer.num_training_batches:
            self._stop_if_signalled(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop_if_signalled(trainer)  # Lightning stops once the epoch is complete

    def _stop_if_signalled(self, trainer: L.Trainer) -> None:
        stop = self.received is not None
        if trainer.world_size > 1:  # the same decision on every rank, at the same point
            flag = torch.tensor(float(stop), device=trainer.strategy.root_device)
            stop = bool(trainer.strategy.reduce(flag, reduce_op="sum") > 0)
            if stop and self.received is None:
                self.received = signal.SIGTERM  # another rank's signal
        if stop:
            trainer._signal_connector.received_sigterm = True  # Lightning stops after this point

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore_handlers()

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous.items():
            if signal.getsignal(signum) == self._on_signal:
                signal.signal(signum, handler)
        self._previous = {}

    # -- the checkpoint --------------------------------------------------------------------
    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore_handlers()
        try:
            if not isinstance(exception, (SIGTERMException, KeyboardInterrupt)):
                return
            if trainer.state.fn != TrainerFn.FITTING:
                return
            trainer.save_checkpoint(self.ckpt_path)
            signum = self.received or signal.SIGTERM
            name = "Ctrl-C" if signum == getattr(signal, "SIGINT", None) else None
            name = name or signal.Signals(signum).name
            if isinstance(exception, KeyboardInterrupt):
                name = "Ctrl-C"
            requeue = signum == getattr(signal, "SIGUSR1", None) and job_key() is not None
            if requeue:
                request_requeue()  # once the logs are closed: SLURM stops a job it requeues
            if trainer.is_global_zero:
                then = "requeuing the SLURM job" if requeue else "resume with --ckpt_path last"
                log.warning(
                    f"stopped by {name} in epoch {trainer.current_epoch} at step "
                    f"{trainer.global_step}: saved {self.ckpt_path}; {then}"
                )
        finally:
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
