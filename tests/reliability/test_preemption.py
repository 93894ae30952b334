"""Preemption: SIGTERM (and SIGUSR1, SLURM's warning signal) mid-epoch saves that epoch's state
to ``last.ckpt`` before the run exits with status 143, and ``--ckpt_path last`` finishes it."""

from __future__ import annotations

import logging
import math
import signal

import pandas as pd

from benign.cli import PREEMPTED_STATUS
from tests.cli.helpers import run_benign
from tests.conftest import REPO_ROOT
from tests.reliability.helpers import (
    FAST_CONFIG,
    RUN_NAME,
    load_checkpoint,
    manifest,
    pace_callback,
    start_benign,
    stderr_of,
    wait_for,
    write_config,
)

EPOCHS = FAST_CONFIG["trainer"]["max_epochs"]
BATCH_SIZE = FAST_CONFIG["data"]["init_args"]["batch_size"]


def with_pace(tmp_path, **pace) -> str:
    callbacks = [*FAST_CONFIG["trainer"]["callbacks"], pace_callback(**pace)]
    return write_config(tmp_path / "config.yaml", callbacks=callbacks)


def progress(ckpt: dict) -> tuple[int, int, int]:
    """(epoch, global step, batches finished in the current epoch) of a checkpoint."""
    batches = ckpt["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["completed"]
    return ckpt["epoch"], ckpt["global_step"], batches


def test_sigterm_mid_epoch_saves_a_checkpoint_of_that_epoch_and_resumes(tmp_path):
    marker = tmp_path / "epoch1-batch4"
    # From batch 4 of epoch 1 on, each batch sleeps, so the signal arrives mid-epoch.
    config = with_pace(tmp_path, epoch=1, batch=4, marker=str(marker), sleep=0.5)
    run = start_benign(["fit", "--config", config], tmp_path, REPO_ROOT)
    wait_for(marker, run)
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=300)
    err = stderr_of(run)
    assert run.returncode == PREEMPTED_STATUS == 143, err[-3000:]
    run_dir = tmp_path / "runs" / RUN_NAME
    last = run_dir / "checkpoints" / "last.ckpt"
    assert (
        "stopped by SIGTERM in epoch 1 at step" in err
        and f"saved {last.relative_to(tmp_path)}" in err
    )

    steps_per_epoch = math.ceil(len(manifest(run_dir)["observed_labels"]) / BATCH_SIZE)
    epoch, step, batches = progress(load_checkpoint(last))
    assert epoch == 1
    assert 5 <= batches < steps_per_epoch  # mid-epoch: at least the batches up to the marker
    assert step == steps_per_epoch + batches
    assert (
        "test/acc" not in pd.read_csv(run_dir / "metrics.csv").columns
    )  # no test after a preemption

    resumed = start_benign(["fit", "--config", config, "--ckpt_path", "last"], tmp_path, REPO_ROOT)
    resumed.wait(timeout=600)
    assert resumed.returncode == 0, stderr_of(resumed)[-3000:]
    final = load_checkpoint(last)
    # Lightning runs the interrupted epoch's remaining batches, then the rest: no step lost or added.
    assert (final["epoch"], final["global_step"]) == (EPOCHS - 1, EPOCHS * steps_per_epoch)
    assert pd.read_csv(run_dir / "metrics.csv")["test/acc"].notna().sum() == 1


def test_sigusr1_saves_the_state_after_the_running_batch(tmp_path, monkeypatch, capsys):
    # benign's log handler is made once per process, on the stderr of its time: make ours.
    monkeypatch.setattr(logging.getLogger("benign"), "handlers", [])
    # The run signals itself during batch 3 of epoch 0 (in this process).
    config = with_pace(tmp_path, epoch=0, batch=3, signum=int(signal.SIGUSR1))
    assert run_benign(["fit", "--config", config], monkeypatch) == PREEMPTED_STATUS
    assert "stopped by SIGUSR1 in epoch 0 at step 4" in capsys.readouterr().err
    last = tmp_path / "runs" / RUN_NAME / "checkpoints" / "last.ckpt"
    assert progress(load_checkpoint(last)) == (0, 4, 4)
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL  # the handler was put back
