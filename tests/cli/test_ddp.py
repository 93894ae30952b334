"""Two CPU processes with DDP (gloo): same noisy labels on every rank, one run directory, and
the same robust accuracy as one process."""

import glob
import os

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.cli.helpers import run_benign_subprocess


def ddp_config(repo_root: str, path: str, dump_dir: str) -> str:
    """configs/digits/erm.yaml with a deterministic evaluation attack and the rank dumper."""
    config = yaml.safe_load(open(os.path.join(repo_root, "configs", "digits", "erm.yaml")))
    callbacks = config["trainer"]["callbacks"]
    for callback in callbacks:
        if callback["class_path"].endswith("RobustnessEval"):
            callback["init_args"]["attack"]["init_args"].update(random_start=False, steps=10)
            callback["init_args"]["eps"] = [0.0, 0.05, 0.1]
    callbacks.append(
        {"class_path": "tests.cli.rank_dump.RankDump", "init_args": {"dirpath": dump_dir}}
    )
    config["trainer"].update(max_epochs=2, enable_progress_bar=False, enable_model_summary=False)
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


def test_ddp_two_processes(repo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", repo_root)
    config = ddp_config(repo_root, str(tmp_path / "ddp.yaml"), str(tmp_path / "dumps"))
    ddp = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    fit = run_benign_subprocess(
        ["fit", "--config", config, "--data.noise_rate", "0.2", "--test_after_fit", "false", *ddp],
        cwd=str(tmp_path),
    )
    assert fit.returncode == 0, fit.stderr[-3000:]

    # the same noisy labels on both ranks
    rank0, rank1 = (np.load(tmp_path / "dumps" / f"rank{r}-fit.npz") for r in (0, 1))
    assert int(rank0["world_size"]) == 2
    np.testing.assert_array_equal(rank0["observed"], rank1["observed"])
    assert abs((rank0["observed"] != rank0["true"]).mean() - 0.2) <= 0.005

    # one run directory, one checkpoint directory, the manifest equal to what the ranks drew
    assert os.listdir(tmp_path / "runs") == ["digits-erm-noise0.2-seed0"]
    run = tmp_path / "runs" / "digits-erm-noise0.2-seed0"
    assert glob.glob(str(tmp_path / "**" / "checkpoints"), recursive=True) == [
        str(run / "checkpoints")
    ]
    np.testing.assert_array_equal(np.load(run / "noise.npz")["observed_labels"], rank0["observed"])

    # the same robust accuracy from 1 and 2 processes on the same checkpoint
    ckpt = str(run / "checkpoints" / "last.ckpt")
    scores = {}
    for devices in ("1", "2"):
        test = run_benign_subprocess(
            [
                "test",
                "--ckpt_path",
                ckpt,
                "--config",
                config,
                "--trainer.accelerator",
                "cpu",
                "--trainer.devices",
                devices,
                "--trainer.strategy",
                "ddp" if devices == "2" else "auto",
            ],
            cwd=str(tmp_path),
        )
        assert test.returncode == 0, test.stderr[-3000:]
        versions = sorted(glob.glob(str(run / "test*" / "metrics.csv")), key=os.path.getmtime)
        metrics = pd.read_csv(versions[-1])
        scores[devices] = {
            k: metrics[k].dropna().iloc[-1] for k in metrics.columns if k.startswith("test/")
        }
    assert set(scores["1"]) == set(scores["2"]) and "test/robust_acc@0.1" in scores["1"]
    for key, value in scores["1"].items():
        assert scores["2"][key] == pytest.approx(value, abs=1e-4), key
