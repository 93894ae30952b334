"""``benign bench``: the --quick run end to end (JSON schema, not timings) and its option errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from benign.bench.runner import CASES
from tests.cli.helpers import run_benign

RATIOS = ("lightning_overhead", "at_cost_ratio", "attack_speedup")


def positive_finite(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_quick_run_writes_the_json_schema(capsys):
    assert run_benign(["bench", "--quick", "--json", "f.json"]) == 0
    with open("f.json") as handle:
        result = json.load(handle)
    for key in RATIOS:
        assert positive_finite(result[key]), key
    assert result["device"] == "cpu"
    assert result["clock"] == "wall" and result["threads"] == 1  # --quick: one thread
    assert result["allocator"] in ("steady", "system")
    assert result["model"] == "small_cnn"
    assert result["batch_size"] == 32 and isinstance(result["batch_size"], int)
    assert set(result["median_ms"]) == set(CASES)
    assert all(positive_finite(ms) for ms in result["median_ms"].values())
    for name in CASES:
        assert result["q1_ms"][name] <= result["median_ms"][name] <= result["q3_ms"][name]
        assert result["samples"][name] == 3  # --quick: 3 repeats in one round
    # The ratios are the definitions of the printed medians.
    ms, k = result["median_ms"], result["steps"]
    assert result["lightning_overhead"] == pytest.approx(ms["erm"] / ms["reference"])
    assert result["at_cost_ratio"] == pytest.approx(ms["at"] / ((k + 1) * ms["erm"]))
    assert result["attack_speedup"] == pytest.approx(ms["torchattacks"] / ms["pgd"])
    assert result["pgd_images_per_s"] == pytest.approx(32 / (ms["pgd"] / 1000))
    out = capsys.readouterr().out
    for key in RATIOS:
        assert key in out
    assert "ERM step (plain PyTorch)" in out and "f.json" in out


def test_a_subset_of_cases_leaves_the_other_ratios_empty():
    args = ["bench", "--quick", "--cases", "erm,reference", "--repeats", "2", "--rounds", "2"]
    assert run_benign([*args, "--json", "f.json"]) == 0
    with open("f.json") as handle:
        result = json.load(handle)
    assert set(result["median_ms"]) == {"erm", "reference"}
    assert result["samples"] == {"erm": 2, "reference": 2}  # one step per round, two rounds
    assert positive_finite(result["lightning_overhead"])
    assert result["at_cost_ratio"] is None and result["attack_speedup"] is None


@pytest.mark.parametrize(
    "args, names",
    [
        (["--model", "vgg"], "--model"),
        (["--input", "imagenet"], "--input"),
        (["--batch-size", "1"], "--batch-size"),
        (["--steps", "0"], "--steps"),
        (["--repeats", "2", "--rounds", "3"], "--rounds"),
        (["--precision", "16"], "--precision"),
        (["--device", "tpu"], "--device"),
        (["--cases", "erm,bogus"], "bogus"),
        (["--threads", "0"], "--threads"),
        (["--clock", "tsc"], "--clock"),
        (["--batch-size", "many"], "--batch-size"),
        (["--no-such-flag"], "--no-such-flag"),
    ],
)
def test_bad_options_are_one_line_errors(args, names, capsys):
    assert run_benign(["bench", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("benign: error: benign bench")
    assert names in err
    assert len(err.splitlines()) == 1


def test_device_cuda_benches_on_a_gpu_and_is_a_one_line_error_without(capsys):
    """Runs on either machine: a CUDA one benches on the GPU, a CPU one names the fix."""
    args = ["bench", "--quick", "--device", "cuda", "--cases", "erm,pgd", "--json", "f.json"]
    if not torch.cuda.is_available():
        assert run_benign(args) == 2
        assert "use --device cpu" in capsys.readouterr().err
        return
    assert run_benign(args) == 0
    with open("f.json") as handle:
        result = json.load(handle)
    assert result["device"] == "cuda" and result["device_name"] == torch.cuda.get_device_name()
    assert set(result["median_ms"]) == {"erm", "pgd"}
    assert all(positive_finite(ms) for ms in result["median_ms"].values())
