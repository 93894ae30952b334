"""``benign bench --data-share``: the data loader's share of an ERM epoch on a real dataset.

Checks the JSON schema, that the share is the ratio of its two timings and lies in (0, 1), the
settings taken from ``configs/<dataset>/erm.yaml``, and the one-line errors; not timings. The
Fashion-MNIST run skips when the dataset is absent, except in CI (see tests/data).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benign.bench.data_share import build_erm, config_file, measure_data_share
from benign.data.fashion_mnist import PACKAGE_DIR_ENV
from benign.fit_config import resolved_fit_config
from tests.cli.helpers import run_benign
from tests.data.test_fashion_mnist import real_data_dir  # noqa: F401  (fixture)

SHARE_KEYS = {
    "dataset",
    "config",
    "backbone",
    "batch_size",
    "num_workers",
    "train_size",
    "batches",
    "rounds",
    "loader_ms",
    "epoch_ms",
    "share",
    "samples_ms",
}


def erm_config(dataset: str) -> dict:
    """The ERM recipe as ``benign fit`` resolves it (its base.yaml layer merged)."""
    return resolved_fit_config(config_file(dataset))


def bench_data_share(dataset: str, *extra: str) -> dict:
    """``benign bench --quick --cases erm --data-share <dataset> ...``'s JSON."""
    args = ["bench", "--quick", "--cases", "erm", "--data-share", dataset, *extra]
    assert run_benign([*args, "--json", "f.json"]) == 0
    with open("f.json") as handle:
        return json.load(handle)


def check_share(result: dict, dataset: str, batches: int) -> dict:
    """The schema and the arithmetic of a ``--data-share`` result; returns its ``data_share``."""
    for key in ("lightning_overhead", "at_cost_ratio", "attack_speedup", "median_ms"):
        assert key in result  # the existing keys stay
    share = result["data_share"]
    assert set(share) == SHARE_KEYS
    assert share["dataset"] == dataset
    assert share["config"] == f"configs/{dataset}/erm.yaml"
    config = erm_config(dataset)
    assert share["batch_size"] == config["data"]["init_args"]["batch_size"]
    assert (
        share["backbone"] == config["model"]["init_args"]["backbone"]["class_path"].split(".")[-1]
    )
    assert share["batches"] == batches and share["rounds"] == 1  # --quick: one round
    assert len(share["samples_ms"]["loader"]) == len(share["samples_ms"]["epoch"]) == 1
    assert share["loader_ms"] == share["samples_ms"]["loader"][0]
    assert share["epoch_ms"] == share["samples_ms"]["epoch"][0]
    assert 0 < share["loader_ms"] < share["epoch_ms"] and math.isfinite(share["epoch_ms"])
    assert result["data_loader_share"] == pytest.approx(share["loader_ms"] / share["epoch_ms"])
    assert result["data_loader_share"] == share["share"]
    assert 0.0 < result["data_loader_share"] < 1.0
    return share


def test_digits_share_is_in_the_json_and_the_table(capsys):
    result = bench_data_share("digits", "--data-batches", "3")
    share = check_share(result, "digits", batches=3)
    _, data = build_erm("digits", None)
    data.setup("fit")
    assert share["train_size"] == len(data.train_dataset)
    out = capsys.readouterr().out
    assert "data_loader_share" in out and "configs/digits/erm.yaml" in out
    assert "training loader alone" in out and "ERM epoch (Lightning)" in out


def test_without_the_option_the_share_is_empty():
    assert run_benign(["bench", "--quick", "--cases", "erm", "--json", "f.json"]) == 0
    with open("f.json") as handle:
        result = json.load(handle)
    assert result["data_loader_share"] is None and result["data_share"] is None


def test_batches_are_capped_at_the_training_split():
    share = measure_data_share("digits", batches=10**6, rounds=2)
    _, data = build_erm("digits", None)
    data.setup("fit")
    assert share["batches"] == len(data.train_dataloader()) - 1  # the first sets the origin
    assert share["rounds"] == 2 and len(share["samples_ms"]["epoch"]) == 2
    assert 0.0 < share["share"] < 1.0


@pytest.mark.parametrize(
    "args, words",
    [
        (["--data-share", "imagenet"], ["--data-share", "'imagenet'", "fashion_mnist"]),
        (["--data-share", "synthetic"], ["--data-share", "digits"]),  # no erm.yaml
        (["--data-share", "digits", "--data-batches", "0"], ["--data-batches", ">= 1"]),
        (["--data-share", "digits", "--data-batches", "x"], ["--data-batches"]),
    ],
)
def test_bad_options_are_one_line_errors(args, words, capsys):
    assert run_benign(["bench", "--quick", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("benign: error: benign bench") and len(err.splitlines()) == 1
    assert all(word in err for word in words), err


def test_a_missing_dataset_is_one_line(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv(PACKAGE_DIR_ENV, "")  # no Debian package either
    args = ["bench", "--quick", "--cases", "erm", "--data-share", "fashion_mnist"]
    assert run_benign([*args, "--data-dir", str(tmp_path / "empty")]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("benign: error: benign bench: --data-share fashion_mnist: ")
    assert len(err.splitlines()) == 1 and "make data" in err
    assert "ERM step" not in captured.out  # fails before timing anything


def test_fashion_mnist_share(real_data_dir: Path):  # noqa: F811  (fixture)
    result = bench_data_share(
        "fashion_mnist", "--data-batches", "3", "--data-dir", str(real_data_dir)
    )
    share = check_share(result, "fashion_mnist", batches=3)
    assert share["train_size"] == 54_000  # 60,000 less the 10% validation hold-out
