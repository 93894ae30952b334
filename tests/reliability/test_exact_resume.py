"""A run stopped by a signal at any step and resumed with ``--ckpt_path last`` ends byte for byte
where an uninterrupted run ends: the same ``metrics.csv``, test metrics and final weights.

Covered: SIGTERM part-way through an epoch and on the last batch of one (the epoch boundary),
for adversarial training (random starts in the training and evaluation attacks, noisy labels,
SGD momentum, a per-epoch LR schedule) and for ERM.
"""

from __future__ import annotations

import copy
import signal

import pytest
import torch

from benign.cli import PREEMPTED_STATUS
from tests.cli.helpers import run_benign
from tests.reliability.helpers import (
    FAST_CONFIG,
    RUN_NAME,
    load_checkpoint,
    pace_callback,
    write_config,
)

STEPS_PER_EPOCH = 18  # 1131 noisy digits training points in batches of 64


def config_for(method: str) -> dict:
    config = copy.deepcopy(FAST_CONFIG)
    if method == "erm":
        config["model"]["class_path"] = "benign.methods.ERM"
        del config["model"]["init_args"]["attack"]
    return config


def fit(
    folder, config: dict, monkeypatch, *extra: str, stop_at: tuple[int, int] | None = None
) -> int:
    callbacks = list(config["trainer"]["callbacks"])
    if stop_at is not None:  # the run sends itself SIGTERM during that (epoch, batch)
        callbacks.append(pace_callback(*stop_at, signum=int(signal.SIGTERM)))
    path = write_config(folder / "config.yaml", config, callbacks=callbacks)
    monkeypatch.chdir(folder)
    return run_benign(["fit", "--config", path, *extra], monkeypatch)


def outcome(folder, run_name: str) -> dict:
    run_dir = folder / "runs" / run_name
    final = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    return {
        "metrics": (run_dir / "metrics.csv").read_bytes(),
        "weights": final["state_dict"],
        "step": final["global_step"],
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """One uninterrupted run per method (the reference both resumes are compared with)."""
    results = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for method in ("at", "erm"):
            folder = tmp_path_factory.mktemp(f"full-{method}")
            assert fit(folder, config_for(method), monkeypatch) == 0
            results[method] = outcome(folder, RUN_NAME.replace("-at-", f"-{method}-"))
    return results


@pytest.mark.parametrize(
    "method,stop_at",
    [
        ("at", (1, 6)),  # mid-epoch: 7 of epoch 1's 18 batches trained
        ("at", (0, STEPS_PER_EPOCH - 1)),  # the last batch of epoch 0: the epoch boundary
        ("erm", (1, 6)),
    ],
    ids=["at-mid-epoch", "at-epoch-boundary", "erm-mid-epoch"],
)
def test_stop_then_resume_is_byte_identical(uninterrupted, method, stop_at, tmp_path, monkeypatch):
    config = config_for(method)
    run_name = RUN_NAME.replace("-at-", f"-{method}-")
    assert fit(tmp_path, config, monkeypatch, stop_at=stop_at) == PREEMPTED_STATUS
    stopped = load_checkpoint(tmp_path / "runs" / run_name / "checkpoints" / "last.ckpt")
    epoch, batch = stop_at
    assert (
        stopped["global_step"] == epoch * STEPS_PER_EPOCH + batch + 1
    )  # after the signalled batch

    assert fit(tmp_path, config, monkeypatch, "--ckpt_path", "last") == 0
    resumed, reference = outcome(tmp_path, run_name), uninterrupted[method]
    assert resumed["step"] == reference["step"] == 3 * STEPS_PER_EPOCH
    assert resumed["metrics"] == reference["metrics"]  # every row, train/val/test, byte for byte
    assert resumed["weights"].keys() == reference["weights"].keys()
    for key, value in reference["weights"].items():
        assert torch.equal(resumed["weights"][key], value), key
