"""A run killed with SIGKILL after its first epoch-end checkpoint and resumed with
``--ckpt_path last`` ends exactly where an uninterrupted run with the same seed ends; two
uninterrupted runs are identical (deterministic mode, CPU)."""

from __future__ import annotations

import signal

import numpy as np
import pandas as pd
import pytest
import torch

from benign.callbacks import EpochSeed
from benign.data.loaders import EpochShuffleSampler
from tests.conftest import REPO_ROOT
from tests.reliability.helpers import (
    FAST_CONFIG,
    RUN_NAME,
    load_checkpoint,
    manifest,
    start_benign,
    stderr_of,
    wait_for,
    write_config,
)

EPOCHS = FAST_CONFIG["trainer"]["max_epochs"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three digits runs side by side: ``full`` and ``again`` uninterrupted, ``killed`` SIGKILLed
    after its first checkpoint and resumed. Returns their run directories and what happened."""
    root = tmp_path_factory.mktemp("resume")
    dirs = {name: root / name for name in ("full", "again", "killed")}
    processes = {}
    for name, folder in dirs.items():
        folder.mkdir()
        config = write_config(folder / "config.yaml")
        processes[name] = start_benign(["fit", "--config", config], folder, REPO_ROOT)

    killed = processes["killed"]
    last = dirs["killed"] / "runs" / RUN_NAME / "checkpoints" / "last.ckpt"
    wait_for(last, killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    killed_at = load_checkpoint(last)
    resumed = start_benign(
        ["fit", "--config", "config.yaml", "--ckpt_path", "last"], dirs["killed"], REPO_ROOT
    )
    resumed.wait(timeout=900)
    for process in (processes["full"], processes["again"]):
        process.wait(timeout=900)
    return {
        "dirs": {name: folder / "runs" / RUN_NAME for name, folder in dirs.items()},
        "killed_status": killed.returncode,
        "killed_epoch": killed_at["epoch"],
        "resumed": resumed,
        "status": {name: p.returncode for name, p in processes.items() if name != "killed"},
    }


def final_metrics(run_dir) -> pd.Series:
    """The last logged value of every metric column."""
    return pd.read_csv(run_dir / "metrics.csv").drop(columns=["step"]).ffill().iloc[-1]


def rows_after(run_dir, epoch: int) -> pd.DataFrame:
    log = pd.read_csv(run_dir / "metrics.csv")
    later = log[log["epoch"] > epoch]
    return later.sort_values(list(later.columns)).reset_index(drop=True)


def test_sigkill_after_the_first_checkpoint_then_resume_equals_an_uninterrupted_run(runs):
    assert runs["status"] == {"full": 0, "again": 0}
    assert runs["killed_status"] == -signal.SIGKILL
    assert runs["killed_epoch"] < EPOCHS - 1  # the kill left epochs to redo
    resumed = runs["resumed"]
    err = stderr_of(resumed)
    assert resumed.returncode == 0, err[-3000:]
    assert "[restored from checkpoint]" in err  # the noisy labels came from the checkpoint

    full, killed = runs["dirs"]["full"], runs["dirs"]["killed"]
    a = load_checkpoint(full / "checkpoints" / "last.ckpt")
    b = load_checkpoint(killed / "checkpoints" / "last.ckpt")
    # every epoch's batches once: 64 a batch, a trailing batch of one point dropped (BatchNorm)
    n_train = len(manifest(full)["observed_labels"])
    per_epoch = n_train // 64 if n_train % 64 == 1 else -(-n_train // 64)
    assert (a["epoch"], a["global_step"]) == (EPOCHS - 1, EPOCHS * per_epoch)
    assert (b["epoch"], b["global_step"]) == (a["epoch"], a["global_step"])
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    # the same optimizer (momentum buffers) and LR-schedule state
    momentum = [s["momentum_buffer"] for s in a["optimizer_states"][0]["state"].values()]
    resumed_momentum = [s["momentum_buffer"] for s in b["optimizer_states"][0]["state"].values()]
    assert all(torch.equal(x, y) for x, y in zip(momentum, resumed_momentum, strict=True))
    assert a["lr_schedulers"] == b["lr_schedulers"]
    assert b["lr_schedulers"][0]["last_epoch"] == EPOCHS

    # every metric of the redone epochs, and the final test metrics, identical
    pd.testing.assert_frame_equal(
        rows_after(full, runs["killed_epoch"]), rows_after(killed, runs["killed_epoch"])
    )
    final = final_metrics(full)
    assert {"test/acc", "test/robust_acc@0.1", "val/acc", "train/acc_noisy"} <= set(final.index)
    pd.testing.assert_series_equal(final, final_metrics(killed), check_names=False)

    # the same noisy labels, from the manifest
    expected, got = manifest(full), manifest(killed)
    assert expected.keys() == got.keys()
    for key in expected:
        assert (expected[key] == got[key]).all(), key
    assert 0.15 < (got["observed_labels"] != got["true_labels"]).mean() < 0.25


def test_two_seeded_deterministic_runs_are_identical(runs):
    assert runs["status"] == {"full": 0, "again": 0}
    full, again = runs["dirs"]["full"], runs["dirs"]["again"]
    pd.testing.assert_frame_equal(
        pd.read_csv(full / "metrics.csv"), pd.read_csv(again / "metrics.csv")
    )
    validated = pd.read_csv(full / "metrics.csv").dropna(subset=["val/acc"])
    assert sorted(validated["epoch"]) == list(range(EPOCHS))
    first, second = manifest(full), manifest(again)
    assert all((first[key] == second[key]).all() for key in first)
    a = load_checkpoint(full / "checkpoints" / "last.ckpt")["state_dict"]
    b = load_checkpoint(again / "checkpoints" / "last.ckpt")["state_dict"]
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_the_training_order_is_a_function_of_seed_and_epoch():
    data = list(range(50))
    orders = {}
    for seed, epoch in [(0, 0), (0, 1), (1, 0), (0, 0)]:
        sampler = EpochShuffleSampler(data, seed=seed)
        torch.manual_seed(len(orders))  # the global random state plays no part
        sampler.set_epoch(epoch)
        order = list(sampler)
        assert sorted(order) == data
        assert orders.setdefault((seed, epoch), order) == order
    assert len({tuple(order) for order in orders.values()}) == 3


def test_epoch_seed_makes_an_epochs_random_draws_independent_of_the_past(monkeypatch):
    class At:  # stands in for the trainer: only current_epoch is read
        current_epoch = 3

    monkeypatch.setenv("PL_GLOBAL_SEED", "5")
    draws = []
    for history in (0, 1):
        torch.manual_seed(history)
        torch.rand(history + 1)  # different pasts
        EpochSeed().on_train_epoch_start(At(), None)
        draws.append((torch.rand(3), np.random.rand()))
    assert torch.equal(draws[0][0], draws[1][0]) and draws[0][1] == draws[1][1]
    monkeypatch.delenv("PL_GLOBAL_SEED")
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    EpochSeed().on_train_epoch_start(At(), None)  # an unseeded run is left alone
    assert torch.equal(torch.random.get_rng_state(), before)
