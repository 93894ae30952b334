"""``benign repro --launcher slurm`` on the real one-node SLURM of ``make slurm``.

- ``--wait`` on a two-cell grid (two noise rates, one seed) gives the rows of ``--launcher
  local``, with one cell preempted on the way: ``scancel --signal=USR1`` on its array task once
  its run has checkpointed; the task is requeued (SLURM restart 1) and the cell resumes in its
  own, single run directory.
- Without ``--wait`` the command submits the array and a dependent gather job and returns;
  the gather job writes results.csv, and the same command run again only gathers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.conftest import REPO_ROOT
from tests.repro.helpers import GRIDS, TINY

pytestmark = pytest.mark.slurm

#: Two cells of E1 on digits, 20 epochs each (a few seconds of training on one CPU).
GRID = [
    "label-noise", "--quick", "--no-progress",
    "--set", "noise_rates=[0.0,0.2]",
    "--set", "compare=null",
    "--set", "args.trainer.max_epochs=20",
    "--set", "args.trainer.check_val_every_n_epoch=5",
    "--set", "args.model.init_args.lr_scheduler.init_args.T_max=20",
    "--set", "eval.eps=[0.0,0.05]",
    "--set", "eval.max_samples=128",
    "--set", "memorization.every_n_epochs=5",
]  # fmt: skip
PREEMPTED = "erm-symmetric-noise0.2-seed0"
SLURM = ["--launcher", "slurm", "--slurm.time", "10", "--slurm.cpus_per_task", "1"]


def environment(tmp_path) -> dict[str, str]:
    """The checkout importable, wandb off, one thread; the jobs inherit it (sbatch exports
    the submitting environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(
        PYTHONPATH=REPO_ROOT, WANDB_MODE="disabled", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
        PYTHONUNBUFFERED="1", HOME=str(tmp_path),
    )  # fmt: skip
    return env


def repro(tmp_path, *args: str, wait: bool = True, timeout: float = 300):
    command = [sys.executable, "-m", "benign.cli", "repro", *args]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if wait:
        output = process.communicate(timeout=timeout)[0]
        assert process.returncode == 0, output[-4000:]
        return output
    return process


def submitted(out) -> dict:
    with open(os.path.join(out, "slurm", "submitted.json")) as handle:
        return json.load(handle)


def cancel_array(out) -> None:
    try:
        ids = submitted(out)
    except OSError:
        return
    for job in (ids["array_job_id"], ids.get("gather_job_id")):
        if job:
            subprocess.run(["scancel", job], capture_output=True)


def test_a_preempted_cell_is_requeued_and_the_array_gives_the_local_rows(slurm, tmp_path):
    repro(tmp_path, *GRID, "--out", "local", "--launcher", "local", "--jobs", "2")
    out = tmp_path / "array"
    run = out / "runs" / PREEMPTED
    process = repro(tmp_path, *GRID, "--out", "array", *SLURM, "--wait", wait=False)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "last.ckpt").exists():
            assert process.poll() is None, process.communicate()[0][-4000:]
            assert time.monotonic() < deadline, "the cell wrote no checkpoint within 120 s"
            time.sleep(0.05)
        task = submitted(out)["tasks"][PREEMPTED]
        slurm.signal(task, "USR1")  # what --signal=USR1@<delay> sends before the time limit
        output = process.communicate(timeout=240)[0]
        assert process.returncode == 0, output[-4000:]
    finally:
        if process.poll() is None:
            process.kill()
        cancel_array(out)

    # The same rows as the local launcher's, the preempted cell included.
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "results.csv"), pd.read_csv(tmp_path / "local" / "results.csv")
    )
    for name in ("figure.png", "summary.md"):
        assert (out / name).stat().st_size > 0
    # The task was requeued (its first attempt stopped before it finished) and ran again. Who
    # requeued it, benign fit or the task's fallback ("stopped, requeued"), is not asserted.
    log = (out / "slurm" / f"{task}_0_log.out").read_text()
    first, _, second = log.partition(f"cell {PREEMPTED}: task {task}, restart 1")
    assert f"cell {PREEMPTED}: task {task}, restart 0" in first and second, log
    assert "Job completed successfully" not in first and "Job completed successfully" in second
    try:
        restarts = slurm.info(task).get("Restarts")
    except RuntimeError:  # SLURM forgot the job already (MinJobAge)
        restarts = None
    assert restarts in (None, "1")
    other = next(t for name, t in submitted(out)["tasks"].items() if name != PREEMPTED)
    assert "restart 1" not in (out / "slurm" / f"{other}_0_log.out").read_text()
    # One run directory per cell: the requeued task continued its own.
    cells = sorted(submitted(out)["tasks"])
    assert sorted(p for p in os.listdir(out / "runs") if not p.endswith(".args.json")) == cells
    record = json.loads((run / "run.json").read_text())
    assert record["slurm_job"] == task


@pytest.mark.slow  # ~40 s; the preempted-cell test above keeps --launcher slurm in make test
def test_without_wait_a_dependent_job_gathers_and_a_rerun_only_gathers(slurm, tmp_path):
    grid = ["label-noise", "--out", "out", *TINY, *GRIDS["label-noise"]]
    grid += ["--set", "compare.noise_types=[]"]
    try:
        output = repro(tmp_path, *grid, *SLURM, timeout=60)
        ids = submitted(tmp_path / "out")
        array, gatherer = ids["array_job_id"], ids["gather_job_id"]
        assert f"submitted array job {array}: 2 of the 2 cells" in output
        assert f"job {gatherer} gathers them after it (afterany)" in output
        assert not (tmp_path / "out" / "results.csv").exists()
        slurm.wait(gatherer, timeout=150)
        results = pd.read_csv(tmp_path / "out" / "results.csv")
        assert sorted(results["noise_rate"].unique()) == [0.0, 0.4]
        again = repro(tmp_path, *grid, *SLURM, timeout=60)
        assert "submitted" not in again and "results.csv" in again
        assert submitted(tmp_path / "out")["array_job_id"] == array
    finally:
        cancel_array(tmp_path / "out")
