"""A run's record never changes behind its back: a resume may not change what the run is, a resume
that fails leaves the run byte-identical, and two same-name fits started together get two
consistent folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.cli.helpers import run_benign_subprocess
from tests.cli.wandb_records import read_records
from tests.conftest import REPO_ROOT
from tests.reliability.helpers import load_checkpoint, manifest, snapshot, write_config
from tests.reliability.test_bad_inputs import EARLIER, EARLIER_NAME


def benign(args: list[str], cwd) -> tuple[int, str]:
    """``benign <args>`` in a fresh interpreter with wandb offline: (exit status, stderr)."""
    # none of this process's wandb settings (a wandb service an earlier test started here would
    # still hold the run id of the previous start): each start is a fresh offline wandb process
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_MODE="offline", PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS="1")
    done = run_benign_subprocess(args, cwd=str(cwd), env=env)
    return done.returncode, done.stderr


@pytest.fixture
def finished(tmp_path):
    """One epoch of digits ERM at noise 0.2 with wandb offline, in ``tmp_path/runs``."""
    config = write_config(tmp_path / "config.yaml", EARLIER, max_epochs=1, callbacks=[])
    args = ["fit", "--config", config, "--test_after_fit", "false"]
    status, err = benign(args, tmp_path)
    assert status == 0, err
    run = tmp_path / "runs" / EARLIER_NAME
    return {"args": args, "cwd": tmp_path, "run": run, "runs": tmp_path / "runs"}


def wandb_history(start) -> dict[str, set]:
    """An offline wandb start's run ids, and the ``epoch`` and ``trainer/global_step`` values
    of its history (metrics) records."""
    (path,) = start.glob("run-*.wandb")
    records = read_records(str(path))
    values: dict[str, set] = {"ids": set(), "epochs": set(), "steps": set()}
    for r in records:
        kind = r.WhichOneof("record_type")
        if kind == "run":
            values["ids"].add(r.run.run_id)
        elif kind == "history":
            items = {
                item.key or "/".join(item.nested_key): json.loads(item.value_json)
                for item in r.history.item
            }
            if "epoch" in items:
                values["epochs"].add(int(items["epoch"]))
            if "trainer/global_step" in items:
                values["steps"].add(int(items["trainer/global_step"]))
    return values


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("benign: error: "), lines
    return lines[0]


def test_a_resume_may_not_change_what_the_run_is(finished):
    before = snapshot(finished["runs"])
    resume = [*finished["args"], "--ckpt_path", "last"]
    status, err = benign([*resume, "--data.noise_seed", "7", "--data.noise_type", "asymmetric"],
                         finished["cwd"])  # fmt: skip
    assert status == 2
    line = one_error_line(err)
    assert "--data.noise_seed: 0 -> 7" in line, line
    assert "--data.noise_type: 'symmetric' -> 'asymmetric'" in line and "start a new run" in line
    assert snapshot(finished["runs"]) == before  # nothing written, nothing touched

    # what may change on a resume (here the run length) is allowed, and recorded in run.json
    first = manifest(finished["run"])
    config_before = (finished["run"] / "config.yaml").read_bytes()
    status, err = benign([*resume, "--trainer.max_epochs", "2"], finished["cwd"])
    assert status == 0, err
    assert load_checkpoint(finished["run"] / "checkpoints" / "last.ckpt")["epoch"] == 1
    assert sorted(os.listdir(finished["runs"])) == [EARLIER_NAME]
    assert (manifest(finished["run"])["observed_labels"] == first["observed_labels"]).all()
    assert (finished["run"] / "config.yaml").read_bytes() == config_before
    record = json.loads((finished["run"] / "run.json").read_text())
    assert [r["changed"] for r in record["resumes"]] == [{"trainer.max_epochs": [1, 2]}]
    starts = [d for d in os.listdir(finished["run"] / "wandb") if d.startswith("offline-run-")]
    assert len(starts) == 2 and all(d.endswith(record["wandb_id"]) for d in starts)  # one run
    # the resumed start logs into the same wandb run id, its history continuing the first's
    first_start, resumed_start = (
        wandb_history(finished["run"] / "wandb" / d) for d in sorted(starts)
    )
    assert first_start["ids"] == resumed_start["ids"] == {record["wandb_id"]}
    assert first_start["epochs"] == {0} and resumed_start["epochs"] == {1}, (
        first_start,
        resumed_start,
    )
    assert min(resumed_start["steps"]) > max(first_start["steps"])


def test_a_failed_resume_leaves_the_run_byte_identical(finished):
    last = finished["run"] / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a write cut short
    before = snapshot(finished["runs"])
    status, err = benign([*finished["args"], "--ckpt_path", "last"], finished["cwd"])
    assert status == 2
    assert "last.ckpt is not a readable checkpoint" in one_error_line(err)
    assert snapshot(finished["runs"]) == before  # no config rewritten, no second wandb run


def test_two_same_name_fits_started_together_get_two_folders(tmp_path):
    config = write_config(tmp_path / "config.yaml", EARLIER, max_epochs=2, callbacks=[])
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_MODE="offline", PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "benign.cli", "fit", "--config", config, "--run_name", "dup"]
    processes = [
        subprocess.Popen([*command, "--test_after_fit", "false"], cwd=tmp_path, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    runs = tmp_path / "runs"
    assert sorted(os.listdir(runs)) == ["dup", "dup-v1"]
    wandb_ids = set()
    for name in ("dup", "dup-v1"):
        run = runs / name
        record = json.loads((run / "run.json").read_text())
        assert record["name"] == name and record["requested_name"] == "dup"
        wandb_ids.add(record["wandb_id"])
        offline = [d for d in os.listdir(run / "wandb") if d.startswith("offline-run-")]
        assert len(offline) == 1 and offline[0].endswith(record["wandb_id"])
        assert (run / "config.yaml").is_file() and (run / "noise.npz").is_file()
        assert load_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"] == 1
        metrics = pd.read_csv(run / "metrics.csv")
        assert sorted(metrics["epoch"].dropna().unique()) == [0, 1]
        assert metrics["val/acc"].notna().sum() == 2
    assert len(wandb_ids) == 2
