"""The launchers of `benign repro`: a dynamic local pool with the in-process rows, `--shard`,
cells that resume from their checkpoint, and the `--slurm.*` options (the real SLURM runs are in
tests/cluster/test_repro_slurm.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from matplotlib.figure import Figure
from submitit.slurm.slurm import _make_sbatch_string

import benign.cli
from benign.errors import ConfigError
from benign.repro.base import Cell, Experiment
from benign.repro.config import Settings
from benign.repro.experiments.fit import FitExperiment
from benign.repro.fit_runs import record_run_args
from benign.repro.launch.local import run_local, visible_gpus, worker_gpu, worker_threads
from benign.repro.launch.slurm_options import SlurmOptions, parse_mem, parse_time
from benign.repro.registry import EXPERIMENTS
from benign.repro.results import make_row
from benign.repro.runner import gather, run_experiment
from tests.cli.helpers import run_benign
from tests.repro.helpers import GRIDS, TINY, tiny_repro


class Sleepy(Experiment):
    """A slow first cell and four quick ones; each row records the process that ran it."""

    name = "sleepy"

    def cells(self, settings: Settings) -> list[Cell]:
        slow = Cell("slow", {"experiment": self.name}, extra={"sleep": 6.0})
        quick = [
            Cell(f"quick{i}", {"experiment": self.name}, extra={"sleep": 0.1}) for i in range(4)
        ]
        return [slow, *quick]

    def run_cell(self, cell: Cell, settings: Settings) -> list[dict]:
        time.sleep(cell.extra["sleep"])
        return [make_row(cell.columns, "pid", float(os.getpid()))]

    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        return Figure()

    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        return f"{len(results)} rows\n"


SLEEPY = f"{__name__}:Sleepy"


def test_the_local_pool_is_a_dynamic_queue(tmp_path):
    """While one worker runs the slow cell the other takes every quick one (fixed striding
    would give the slow cell's worker quick cells too)."""
    settings = Settings(out=str(tmp_path / "out"))
    experiment = Sleepy()
    run_local(SLEEPY, settings, experiment.cells(settings), workers=2, progress=False)
    results = gather(experiment, settings)
    names = [cell.name for cell in experiment.cells(settings)]
    pids = dict(zip(names, results["value"], strict=True))
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    assert all(pids[f"quick{i}"] != pids["slow"] for i in range(4))
    logs = sorted(os.listdir(tmp_path / "out" / "logs"))
    assert logs == ["worker-0.log", "worker-1.log"]
    text = "".join((tmp_path / "out" / "logs" / log).read_text() for log in logs)
    assert all(f"benign repro: cell {name}" in text for name in pids)


class Failing(Sleepy):
    def cells(self, settings: Settings) -> list[Cell]:
        cells = super().cells(settings)
        return [Cell("slow", cells[0].columns, extra={"sleep": 1.0}), *cells[1:]]

    def run_cell(self, cell: Cell, settings: Settings) -> list[dict]:
        if cell.name == "quick1":
            raise ValueError("quick1 broke")
        return super().run_cell(cell, settings)


def test_a_failing_cell_is_raised_and_the_others_stay_stored(tmp_path):
    settings = Settings(out=str(tmp_path / "out"))
    cells = Failing().cells(settings)
    with pytest.raises(ValueError, match="quick1 broke"):
        run_local(f"{__name__}:Failing", settings, cells, workers=2, progress=False)
    stored = sorted(os.listdir(settings.cells_dir))
    assert "quick1.csv" not in stored and "slow.csv" in stored  # the running cell finished


def test_each_worker_sees_one_of_several_gpus(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    gpus = visible_gpus()
    assert gpus == ["4", "6"]  # the devices this process was given, not 0 and 1
    assert [worker_gpu(i, gpus) for i in range(3)] == ["4", "6", "4"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus() == ["0", "1"]
    assert worker_gpu(5, ["0"]) is None  # one GPU: every worker shares it


def test_workers_share_the_cores_unless_threads_are_given():
    assert worker_threads(3, 8) == 3
    assert worker_threads(None, 1) == (os.cpu_count() or 1)
    assert worker_threads(None, 10_000) == 1


def test_jobs_run_the_tiny_grid_in_workers_with_the_in_process_rows(
    tiny_results, monkeypatch, tmp_path
):
    out = str(tmp_path / "jobs")
    tiny_repro("label-noise", out, monkeypatch, "--jobs", "2", "--set", "compare.noise_types=[]")
    assert sorted(os.listdir(os.path.join(out, "cells"))) == [
        "erm-symmetric-noise0-seed0.csv",
        "erm-symmetric-noise0.4-seed0.csv",
    ]
    assert sorted(os.listdir(os.path.join(out, "logs")))[-2:] == ["worker-0.log", "worker-1.log"]
    # Cells are seeded runs: a worker process gives exactly the rows this process gives.
    local = pd.read_csv(os.path.join(out, "results.csv"))
    single = pd.read_csv(os.path.join(tiny_results("label-noise"), "results.csv"))
    single = single[single["noise_type"] == "symmetric"].reset_index(drop=True)
    pd.testing.assert_frame_equal(local, single)


class Counting(Sleepy):
    name = "counting"
    datasets = ("digits",)

    def run_cell(self, cell: Cell, settings: Settings) -> list[dict]:
        return [make_row(cell.columns, "one", 1.0)]


def test_a_shard_runs_its_cells_and_leaves_gathering_to_a_run_without_shard(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.setitem(EXPERIMENTS, "counting", f"{__name__}.Counting")
    monkeypatch.chdir(tmp_path)
    argv = ["repro", "counting", "--out", "out", "--no-progress"]
    assert run_benign([*argv, "--shard", "1/2"], monkeypatch) == 0
    assert sorted(os.listdir("out/cells")) == ["quick0.csv", "quick2.csv"]
    assert not os.path.exists("out/results.csv")
    assert (
        "3 of the grid's 5 still to run; run without --shard to gather" in capsys.readouterr().out
    )
    assert run_benign(argv, monkeypatch) == 0
    assert len(pd.read_csv("out/results.csv")) == 5


class FakeCLI:
    """Stands in for BenignCLI: records its arguments."""

    instances: list[FakeCLI] = []

    def __init__(self, args: list[str]) -> None:
        self.args = args
        FakeCLI.instances.append(self)


class OneFit(FitExperiment, Counting):
    """One ``benign fit`` cell, trained by :class:`FitExperiment` (with a fake CLI)."""

    def cells(self, settings: Settings) -> list[Cell]:
        return [Cell("fit", {"experiment": self.name}, args=("--config", "x.yaml"))]

    def collect(self, cell, settings, cli, run_dir):
        return [make_row(cell.columns, "acc", 0.5)]


@pytest.mark.parametrize("same_args", [True, False])
def test_a_cell_with_a_checkpoint_of_the_same_run_resumes_it(tmp_path, monkeypatch, same_args):
    monkeypatch.setattr(benign.cli, "BenignCLI", FakeCLI)
    FakeCLI.instances.clear()
    settings = Settings(out=str(tmp_path / "out"))
    run_dir = os.path.join(settings.runs_dir, "fit")
    os.makedirs(os.path.join(run_dir, "checkpoints"))
    open(os.path.join(run_dir, "checkpoints", "last.ckpt"), "w").close()
    record_run_args(run_dir, ["--config", "x.yaml" if same_args else "other.yaml"])

    run_experiment(OneFit(), settings, progress=False)
    (cli,) = FakeCLI.instances
    assert cli.args[cli.args.index("--run_name") + 1] == "fit"
    if same_args:  # resumed in place
        assert cli.args[-2:] == ["--ckpt_path", "last"]
        assert os.path.isfile(os.path.join(run_dir, "checkpoints", "last.ckpt"))
    else:  # a run of other settings: started afresh
        assert "--ckpt_path" not in cli.args
        assert not os.path.exists(run_dir)
    with open(f"{run_dir}.args.json") as handle:
        assert json.load(handle) == ["--config", "x.yaml"]


STOP_GRID = [
    *TINY,
    "--set", "args.trainer.max_epochs=30",
    "--set", "args.data.train_subset=600",
    "--set", "memorization.every_n_epochs=5",
    "--set", "noise_rates=[0.2]",
    "--set", "compare=null",
]  # fmt: skip


def _repro(out: str, cwd: str, *extra: str, wait: bool = True) -> subprocess.Popen:
    env = dict(os.environ, WANDB_MODE="disabled", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "benign.cli", "repro", "label-noise", "--out", out]
    process = subprocess.Popen(
        [*command, *STOP_GRID, *extra],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if wait:
        process.wait(timeout=300)
    return process


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> str:
    """results.csv of the one-cell grid of :data:`STOP_GRID`, run without a stop."""
    cwd = tmp_path_factory.mktemp("uninterrupted")
    whole = _repro("whole", str(cwd))
    assert whole.returncode == 0, whole.stdout.read()
    return str(cwd / "whole" / "results.csv")


@pytest.mark.parametrize(
    "launcher",
    [[], pytest.param(["--jobs", "2"], marks=pytest.mark.slow)],
    ids=["in-process", "local"],
)
def test_a_stopped_cell_resumes_its_run_to_the_uninterrupted_rows(
    tmp_path, launcher, uninterrupted
):
    """SIGTERM mid-training: exit 143 with the cell's checkpoint; the same command resumes it
    in the same run directory and ends with the rows of a run never stopped."""
    cwd = str(tmp_path)
    run = tmp_path / "stopped" / "runs" / "erm-symmetric-noise0.2-seed0"
    stopped = _repro("stopped", cwd, *launcher, wait=False)
    deadline = time.monotonic() + 120
    while not (run / "checkpoints" / "last.ckpt").exists() and stopped.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.05)
    stopped.send_signal(signal.SIGTERM)
    output = stopped.communicate(timeout=120)[0]
    assert stopped.returncode == 143, output
    assert not list((tmp_path / "stopped").glob("cells/*.csv"))  # nothing stored for it
    again = _repro("stopped", cwd, *launcher)
    assert again.returncode == 0, again.stdout.read()
    assert sorted(os.listdir(run.parent)) == [run.name, f"{run.name}.args.json"]  # one run dir
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "stopped" / "results.csv"), pd.read_csv(uninterrupted)
    )


# -- SLURM options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,minutes",
    [(90, 90), ("90", 90), ("01:30:00", 90), ("10:30", 11), ("1-00", 1440), ("0-02:00:01", 121)],
)
def test_slurm_times_are_minutes_or_clock_times(text, minutes):
    assert parse_time(text) == minutes


@pytest.mark.parametrize("bad", ["", "1h", "0", "-5", "1:2:3:4", True])
def test_bad_slurm_times_are_one_line_errors(bad):
    with pytest.raises(ConfigError, match="--slurm.time"):
        parse_time(bad)


def test_slurm_memory_sizes():
    assert parse_mem("8G") == "8G" and parse_mem(8000) == "8000" and parse_mem("500MB") == "500MB"
    with pytest.raises(ConfigError, match="--slurm.mem"):
        parse_mem("8 GiB")


def test_slurm_config_file_with_the_command_line_winning(tmp_path):
    config = tmp_path / "slurm.yaml"
    config.write_text("partition: gpu\ntime: '02:00:00'\nmem: 8G\ncpus_per_task: 4\nqos: low\n")
    options = SlurmOptions.parse(str(config), {"time": "30", "qos": None, "gpus_per_task": "1"})
    assert options == SlurmOptions(
        partition="gpu", time=30, mem="8G", cpus_per_task=4, qos="low", gpus_per_task=1
    )
    config.write_text("partition: gpu\ngpu: 1\n")
    with pytest.raises(ConfigError, match="unknown key.*gpu; the keys are partition"):
        SlurmOptions.parse(str(config))
    with pytest.raises(ConfigError, match="must be a whole number"):
        SlurmOptions.parse(None, {"gpus_per_task": "one"})


def test_the_array_script_signals_usr1_requeues_and_bounds_parallelism(tmp_path):
    options = SlurmOptions(
        partition="gpu", gpus_per_task=1, mem="8G", time=90, array_parallelism=2, account="lab"
    )
    script = _make_sbatch_string(
        command="python -m submitit.core._submit x",
        folder=str(tmp_path),
        map_count=5,
        **options.executor_parameters(),
    )
    for line in (
        "#SBATCH --signal=USR1@90",
        "#SBATCH --requeue",
        "#SBATCH --array=0-4%2",
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --mem=8G",
        "#SBATCH --time=90",
        "#SBATCH --account=lab",
        "export SUBMITIT_PREEMPT_SIGNAL=USR1",
    ):
        assert line in script.splitlines(), line
    assert "USR2" not in script


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--slurm.partition", "gpu"], "--slurm.\\* options need --launcher slurm"),
        (["--launcher", "slurm", "--jobs", "2"], "--jobs is for the local launcher"),
        (["--launcher", "slurm", "--shard", "0/2"], "--shard and --launcher slurm do not combine"),
        (["--launcher", "slurm", "--slurm.time", "soon"], "--slurm.time 'soon'"),
        (["--jobs", "0"], "--jobs must be >= 1"),
    ],
)
def test_launcher_option_errors_are_one_line(extra, message, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    argv = ["repro", "label-noise", "--quick", *GRIDS["label-noise"], *extra]
    assert run_benign(argv, monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.startswith("benign: error: ") and err.count("\n") == 1
    assert re.search(message, err), err
    assert not os.path.exists("repro_out")
