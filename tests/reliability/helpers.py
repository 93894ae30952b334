"""Shared pieces of the reliability tests: a small fast digits config, subprocess runs that can
be signalled, a callback that paces or signals a run at a chosen batch, and run snapshots."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
import yaml

from benign.models import Backbone

#: A digits adversarial-training run that exercises every resumable state: noisy labels, SGD
#: momentum, a per-epoch LR schedule, random starts in training and evaluation attacks.
FAST_CONFIG = {
    "seed_everything": 0,
    "trainer": {
        "max_epochs": 3,
        "deterministic": True,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "log_every_n_steps": 5,
        "callbacks": [
            {"class_path": "benign.callbacks.Memorization", "init_args": {"every_n_epochs": 1}},
            {
                "class_path": "benign.callbacks.RobustnessEval",
                "init_args": {
                    "attack": {
                        "class_path": "benign.attacks.PGD",
                        "init_args": {"eps": 0.1, "steps": 3},
                    },
                    "eps": [0.0, 0.1],
                    "max_samples": 100,
                    "sanity_samples": 0,
                },
            },
        ],
    },
    "model": {
        "class_path": "benign.methods.AdversarialTraining",
        "init_args": {
            "backbone": {"class_path": "benign.models.DigitsCNN"},
            "attack": {"class_path": "benign.attacks.PGD", "init_args": {"eps": 0.1, "steps": 2}},
            "optimizer": {
                "class_path": "torch.optim.SGD",
                "init_args": {"lr": 0.05, "momentum": 0.9},
            },
            "lr_scheduler": {
                "class_path": "torch.optim.lr_scheduler.StepLR",
                "init_args": {"step_size": 1, "gamma": 0.7},
            },
        },
    },
    "data": {
        "class_path": "benign.data.DigitsDataModule",
        "init_args": {"noise_rate": 0.2, "batch_size": 64},
    },
    "wandb": {"mode": "disabled"},
}

RUN_NAME = "digits-at-noise0.2-seed0"


def write_config(path: str | Path, config: dict = FAST_CONFIG, **trainer: object) -> str:
    """Write ``config`` (``trainer`` keys overridden) as YAML; return the path."""
    config = {**config, "trainer": {**config["trainer"], **trainer}}
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle)
    return str(path)


def subprocess_env(repo_root: str) -> dict[str, str]:
    """This environment, wandb off, the checkout importable (for test-only callbacks), one
    thread per process (several runs share the CPU; oversubscribed threads slow each ~10x)."""
    return dict(
        os.environ,
        WANDB_MODE="disabled",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=repo_root,
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )


def start_benign(args: list[str], cwd: str | Path, repo_root: str) -> subprocess.Popen:
    """Start ``benign <args>`` in a fresh interpreter, stderr captured to ``cwd/stderr.txt``."""
    err = open(Path(cwd) / f"stderr-{time.monotonic_ns()}.txt", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "benign.cli", *args],
        cwd=str(cwd),
        env=subprocess_env(repo_root),
        stdout=subprocess.DEVNULL,
        stderr=err,
        text=True,
    )
    process.stderr_file = err  # type: ignore[attr-defined]
    return process


def stderr_of(process: subprocess.Popen) -> str:
    handle = process.stderr_file  # type: ignore[attr-defined]
    handle.seek(0)
    return handle.read()


def wait_for(path: str | Path, process: subprocess.Popen, timeout: float = 600) -> None:
    """Poll until ``path`` exists; fail if the process ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if process.poll() is not None:
            raise AssertionError(
                f"benign exited ({process.returncode}) before {path}:\n{stderr_of(process)[-3000:]}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"timed out waiting for {path}")
        time.sleep(0.02)


class Pace(L.Callback):
    """Test-only: at ``(epoch, batch)`` write ``marker`` and optionally send ``signum`` to this
    process; from then on sleep ``sleep`` seconds per batch so an outside signal lands mid-epoch."""

    def __init__(
        self,
        epoch: int,
        batch: int,
        marker: str = "",
        signum: int | None = None,
        sleep: float = 0.0,
    ) -> None:
        self.at = (epoch, batch)
        self.marker = marker
        self.signum = signum
        self.sleep = sleep
        self.reached = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if (trainer.current_epoch, batch_idx) == self.at and not self.reached:
            self.reached = True
            if self.marker:
                Path(self.marker).write_text(f"{trainer.current_epoch} {trainer.global_step}")
            if self.signum is not None:
                os.kill(os.getpid(), self.signum)
        if self.reached and self.sleep:
            time.sleep(self.sleep)


def pace_callback(epoch: int, batch: int, **init_args: object) -> dict:
    """The ``trainer.callbacks`` entry of :class:`Pace`."""
    args = {"epoch": epoch, "batch": batch, **init_args}
    return {"class_path": "tests.reliability.helpers.Pace", "init_args": args}


def snapshot(root: str | Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: relative path -> (bytes, mtime in ns)."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):  # e.g. wandb's debug-internal.log: where it points
                found[os.path.relpath(path, root)] = (os.readlink(path).encode(), 0)
                continue
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = (handle.read(), os.stat(path).st_mtime_ns)
    return found


def load_checkpoint(path: str | Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def manifest(run_dir: str | Path) -> dict[str, np.ndarray]:
    with np.load(Path(run_dir) / "noise.npz") as data:
        return {key: data[key] for key in data.files}


def kill(process: subprocess.Popen, signum: int = signal.SIGKILL) -> None:
    if process.poll() is None:
        process.send_signal(signum)


class Quantise(torch.nn.Module):
    """Rounds inputs to ``levels`` grey levels: a non-differentiable first layer whose input
    gradient is exactly zero, the textbook case of gradient masking (Athalye et al. 2018)."""

    def __init__(self, levels: int = 4) -> None:
        super().__init__()
        self.levels = levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * self.levels) / self.levels


class MaskedMLP(Backbone):
    """Test-only backbone for 8x8 digits: :class:`Quantise`, then an MLP (``backbone(num_classes)``)."""

    def __init__(self, num_classes: int, hidden: int = 128) -> None:
        super().__init__(num_classes, in_channels=1)
        self.body = torch.nn.Sequential(
            Quantise(), torch.nn.Flatten(), torch.nn.Linear(64, hidden), torch.nn.ReLU()
        )
        self._make_head(hidden)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
