"""The CUDA path end to end (marker ``gpu``; skipped without a CUDA device): a digits fit on
the GPU, ``benign test`` of its checkpoint there, and a ``benign bench`` smoke run.

Nothing here is timed; the numbers asserted are accuracies a working run reaches on any device.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
import torch

from tests.cli.helpers import run_benign
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.gpu

#: The accelerator the tests ask for (a constant, so the file can be tried on a CPU by hand).
ACCELERATOR = "gpu"
RUN = os.path.join("runs", "digits-erm-noise0.2-seed0")
FIT = [
    "fit",
    "--config",
    os.path.join(REPO_ROOT, "configs", "digits", "erm.yaml"),
    "--data.noise_rate",
    "0.2",
    "--trainer.accelerator",
    ACCELERATOR,
    "--trainer.devices",
    "1",
    "--trainer.max_epochs",
    "8",
    "--wandb.mode",
    "disabled",
]


@pytest.fixture(scope="module")
def cuda_run(tmp_path_factory) -> str:
    """One ERM fit on digits (noise 0.2, 8 epochs) on the GPU, tested after the fit."""
    root = tmp_path_factory.mktemp("cuda")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        assert run_benign(FIT, patch) == 0
    return str(root)


def test_a_digits_fit_on_the_gpu_learns_and_evaluates(cuda_run):
    metrics = pd.read_csv(os.path.join(cuda_run, RUN, "metrics.csv"))
    acc = metrics["test/acc"].dropna().item()
    assert acc > 0.7, acc  # 20% of the training labels are wrong; chance is 0.1
    robust = [metrics[f"test/robust_acc@{e}"].dropna().item() for e in ("0", "0.05", "0.2")]
    assert robust == sorted(robust, reverse=True) and robust[0] == pytest.approx(acc, abs=1e-6)
    assert metrics["train/acc_noisy"].dropna().iloc[-1] > 0.0  # the callbacks ran on the GPU
    state = torch.load(os.path.join(cuda_run, RUN, "checkpoints", "last.ckpt"), weights_only=True)
    assert all(
        torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point()
    )


def test_benign_test_of_the_checkpoint_on_the_gpu_repeats_the_fits_test(cuda_run, monkeypatch):
    monkeypatch.chdir(cuda_run)
    ckpt = os.path.join(RUN, "checkpoints", "last.ckpt")
    args = ["test", "--ckpt_path", ckpt, "--trainer.accelerator", ACCELERATOR, "--wandb.mode", "disabled"]  # fmt: skip
    assert run_benign(args, monkeypatch) == 0
    fitted = pd.read_csv(os.path.join(RUN, "metrics.csv"))["test/acc"].dropna().item()
    tested = pd.read_csv(os.path.join(RUN, "test", "metrics.csv"))["test/acc"].dropna().item()
    assert tested == pytest.approx(fitted, abs=1e-6)  # the same weights, the same test split


def test_bench_smoke_run_on_the_gpu():
    device = "cuda" if ACCELERATOR == "gpu" else "cpu"
    args = ["bench", "--quick", "--device", device, "--cases", "erm,at,pgd", "--json", "b.json"]
    assert run_benign(args) == 0
    with open("b.json") as handle:
        result = json.load(handle)
    assert result["device"] == device
    assert set(result["median_ms"]) == {"erm", "at", "pgd"}
    assert all(0 < ms < 60_000 for ms in result["median_ms"].values())
    assert result["at_cost_ratio"] > 0
