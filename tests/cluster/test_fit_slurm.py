"""``scripts/slurm/fit.sbatch`` on the real one-node SLURM of ``make slurm``.

- A job preempted with SIGUSR1 (what ``--signal`` sends before the time limit) saves, requeues
  itself and resumes in its own run directory, ending byte for byte where an uninterrupted run
  of the same command ends; a second job with another noise rate, started in the same folder
  after the preemption, trains its own labels; one wandb run per benign run across the requeue.
- Two CPU tasks under ``srun`` (gloo DDP driven by SLURM's variables) train one run whose test
  metrics equal one process's test of the same checkpoint.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from benign.fit_config import resolved_fit_config
from tests.conftest import REPO_ROOT
from tests.reliability.helpers import pace_callback

FIT_SBATCH = os.path.join(REPO_ROOT, "scripts", "slurm", "fit.sbatch")
#: The template asks for a GPU node and 8 CPUs; this cluster has neither.
CPU_JOB = ["--gpus-per-node=0", "--cpus-per-task=1", "--mem-per-cpu=2G", "--time=10"]
EPOCHS = 4


def small_config(folder, **pace) -> str:
    """configs/digits/erm.yaml (its layers merged, as the CLI reads it) for EPOCHS epochs, a cheap
    evaluation, and (optionally) a pace callback that marks a batch and slows the run from there so
    a signal lands mid-epoch."""
    config = resolved_fit_config(os.path.join(REPO_ROOT, "configs", "digits", "erm.yaml"))
    trainer = config["trainer"]
    trainer.update(max_epochs=EPOCHS, deterministic=True)
    for callback in trainer["callbacks"]:
        args = callback["init_args"]
        if callback["class_path"].endswith("RobustnessEval"):
            args.update(eps=[0.0, 0.05, 0.1], every_n_epochs=2, sanity_samples=0)
            args["attack"]["init_args"]["steps"] = 5
        else:
            args["every_n_epochs"] = 2
    if pace:
        trainer["callbacks"].append(pace_callback(**pace))
    config["model"]["init_args"]["lr_scheduler"]["init_args"]["T_max"] = EPOCHS
    path = os.path.join(folder, "config.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle)
    return path


def job_env(tmp_path) -> dict[str, str]:
    """One thread, the checkout importable, wandb offline with no login."""
    return {
        "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HOME": str(tmp_path),
        "NETRC": str(tmp_path / "no-netrc"), "PYTHONUNBUFFERED": "1",
    }  # fmt: skip


def plain_fit(folder, config: str, env: dict[str, str], *args: str) -> None:
    """The same command outside SLURM (no SLURM variables), as the reference."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-m", "benign.cli", "fit", "--config", config, *args],
        cwd=folder, env=environment, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]


def wandb_runs(run_dir) -> set[str]:
    """The wandb run ids of the offline runs in a run directory (one folder per start)."""
    folders = glob.glob(os.path.join(run_dir, "wandb", "offline-run-*"))
    assert folders, f"no wandb run in {run_dir}"
    return {re.sub(r"^offline-run-\d{8}_\d{6}-", "", os.path.basename(f)) for f in folders}


def test_preempted_job_resumes_its_own_run_and_a_second_job_keeps_its_labels(slurm, tmp_path):
    shared, reference = tmp_path / "shared", tmp_path / "reference"
    shared.mkdir()
    reference.mkdir()
    marker = shared / "epoch1-batch3"
    # From batch 3 of epoch 1 on, A sleeps 0.3 s a batch: the signal lands mid-epoch.
    config_a = small_config(shared, epoch=1, batch=3, marker=str(marker), sleep=0.3)
    config_b = small_config(reference)
    env = job_env(tmp_path)

    a = slurm.submit(FIT_SBATCH, [config_a, "--data.noise_rate", "0.2"], cwd=shared, env=env,
                     sbatch_options=CPU_JOB, name="A")  # fmt: skip
    slurm.wait_for_file(a, marker, timeout=300)
    slurm.signal(a, "USR1")  # to the job's srun task, as --signal=USR1@T does
    # A saves, requeues itself and comes back (restart 1) ...
    slurm.wait_for_file(a, slurm.outdir / f"A-{a}.out", text="requeuing the SLURM job", timeout=120)
    b = slurm.submit(FIT_SBATCH, [config_b, "--data.noise_rate", "0.4"], cwd=shared, env=env,
                     sbatch_options=CPU_JOB, name="B")  # fmt: skip
    # ... meanwhile the references run outside SLURM.
    (reference / "a").mkdir()
    (reference / "b").mkdir()
    plain_fit(reference / "a", config_b, env, "--data.noise_rate", "0.2")
    plain_fit(reference / "b", config_b, env, "--data.noise_rate", "0.4")
    assert slurm.wait(a, timeout=600) == "COMPLETED"
    assert slurm.wait(b, timeout=600) == "COMPLETED"
    assert slurm.info(a).get("Restarts") == "1" and slurm.info(b).get("Restarts") == "0"

    runs = shared / "runs"
    run_a, run_b = runs / "digits-erm-noise0.2-seed0", runs / "digits-erm-noise0.4-seed0"
    assert sorted(os.listdir(runs)) == [run_a.name, run_b.name]  # no -v1 copy, nothing shared
    assert not glob.glob(str(shared / "**" / "hpc_ckpt_*"), recursive=True)
    for run, name in ((run_a, "a"), (run_b, "b")):
        ref = reference / name / "runs" / run.name
        # every metrics row (train, val, memorisation, test after fit) as the uninterrupted run
        assert (run / "metrics.csv").read_bytes() == (ref / "metrics.csv").read_bytes(), name
        with np.load(run / "noise.npz") as got, np.load(ref / "noise.npz") as want:
            for key in want.files:
                np.testing.assert_array_equal(got[key], want[key], err_msg=f"{name}: {key}")
        assert yaml.safe_load((run / "config.yaml").read_text())["data"]["init_args"][
            "noise_rate"
        ] == (0.2 if name == "a" else 0.4)
    with np.load(run_a / "noise.npz") as noise_a, np.load(run_b / "noise.npz") as noise_b:
        assert len(noise_a["noisy_indices"]) < len(noise_b["noisy_indices"])
    test_a = pd.read_csv(run_a / "metrics.csv")["test/acc"].dropna()
    assert len(test_a) == 1 and test_a.iloc[0] > 0.5  # the final weights, tested once

    # one wandb run per benign run: A's two starts log to one id, the one in its run.json
    ids = {
        run: yaml.safe_load((run / "run.json").read_text())["wandb_id"] for run in (run_a, run_b)
    }
    assert (
        wandb_runs(run_a) == {ids[run_a]}
        and len(glob.glob(str(run_a / "wandb" / "offline-run-*"))) == 2
    )
    assert wandb_runs(run_b) == {ids[run_b]} and ids[run_a] != ids[run_b]


def test_two_cpu_tasks_under_srun_equal_one_process(slurm, tmp_path):
    config = small_config(tmp_path)
    env = job_env(tmp_path)
    job = slurm.submit(FIT_SBATCH, [config, "--data.noise_rate", "0.2"], cwd=tmp_path, env=env,
                       sbatch_options=[*CPU_JOB, "--ntasks-per-node=2"], name="ddp")  # fmt: skip
    assert slurm.wait(job, timeout=600) == "COMPLETED"
    output = slurm.output(job)
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in output, output[-3000:]
    runs = tmp_path / "runs"
    # one run directory (beside the hidden hand-over folder of rank 0's decision)
    assert [d for d in os.listdir(runs) if not d.startswith(".")] == ["digits-erm-noise0.2-seed0"]
    run = runs / "digits-erm-noise0.2-seed0"
    during_fit = pd.read_csv(run / "metrics.csv")
    two = {k: float(during_fit[k].dropna().iloc[-1]) for k in during_fit if k.startswith("test/")}

    environment = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    environment.update(env)
    one = subprocess.run(
        [sys.executable, "-m", "benign.cli", "test", "--ckpt_path",
         str(run / "checkpoints" / "last.ckpt"), "--trainer.devices", "1"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    rows = pd.read_csv(run / "test" / "metrics.csv")
    single = {k: float(v) for k, v in rows.iloc[-1].items() if k.startswith("test/")}
    assert set(two) == set(single) and "test/robust_acc@0.1" in two
    for key, value in single.items():
        assert two[key] == pytest.approx(value, abs=1e-4), key
