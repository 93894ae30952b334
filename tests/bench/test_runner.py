"""The benchmark's bookkeeping: interleaved rounds, per-step samples, medians and ratios."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from benign.bench import runner
from benign.bench.cases import INPUTS, MODELS, BenchCase
from benign.bench.reference import ReferenceERM
from benign.bench.runner import CASES, BenchSettings, run_bench
from benign.bench.timing import Clock, StepTimer, steady_allocator, summary_ms, time_calls

#: Fake step times in seconds: ERM 2, plain PyTorch 1, AT 11, TRADES 13, ours 1, torchattacks 2.
FAKE_SECONDS = {
    "erm": 2.0,
    "reference": 1.0,
    "at": 11.0,
    "trades": 13.0,
    "pgd": 1.0,
    "torchattacks": 2.0,
}


class FakeBench:
    """Stands in for the real models: records the call order, returns fixed step times."""

    calls: list[tuple[str, int]] = []

    def __init__(self, settings: BenchSettings) -> None:
        self.device = torch.device("cpu")

    def run_case(self, name: str, steps: int) -> list[float]:
        FakeBench.calls.append((name, steps))
        return [FAKE_SECONDS[name]] * steps


def test_rounds_alternate_order_and_ratios_follow_the_definitions(monkeypatch):
    monkeypatch.setattr(runner, "_Bench", FakeBench)
    FakeBench.calls = []
    result = run_bench(BenchSettings(steps=10, repeats=6, rounds=3, batch_size=50))
    warmup, timed = FakeBench.calls[: len(CASES)], FakeBench.calls[len(CASES) :]
    assert warmup == [(name, 1) for name in CASES]
    forward = [(name, 2) for name in CASES]  # 6 repeats over 3 rounds
    assert timed == forward + forward[::-1] + forward
    assert result["samples"] == dict.fromkeys(CASES, 6)
    assert result["median_ms"]["at"] == pytest.approx(11000.0)
    assert result["lightning_overhead"] == pytest.approx(2.0)
    assert result["at_cost_ratio"] == pytest.approx(11.0 / (11 * 2.0))
    assert result["attack_speedup"] == pytest.approx(2.0)
    assert result["pgd_images_per_s"] == pytest.approx(50.0)


def test_summary_is_median_and_quartiles_in_ms():
    samples = [0.004, 0.001, 0.003, 0.002, 0.100]
    s = summary_ms(samples)
    assert s["median"] == pytest.approx(3.0)
    assert s["q1"] == pytest.approx(2.0) and s["q3"] == pytest.approx(4.0)
    assert summary_ms([0.5]) == {"median": 500.0, "q1": 500.0, "q3": 500.0}
    with pytest.raises(ValueError):
        summary_ms([])


def test_time_calls_times_each_call_after_the_first():
    stamps = iter([1.0, 1.5, 3.5, 4.0])
    calls = []
    times = time_calls(lambda: calls.append(1), 3, clock=lambda: next(stamps))
    assert len(calls) == 4
    assert times == [0.5, 2.0, 0.5]


SHAPE_CASES = [(m, i) for m in ("small_cnn", "digits_cnn") for i in sorted(INPUTS)]
SHAPE_CASES += [
    ("preact_resnet18", "digits"),
    pytest.param("wrn_28_10", "digits", marks=pytest.mark.slow),
]


def test_the_shape_cases_cover_every_model():
    names = {c.values[0] if hasattr(c, "values") else c[0] for c in SHAPE_CASES}
    assert names == set(MODELS)


@pytest.mark.parametrize("model, input", SHAPE_CASES)
def test_every_model_takes_the_input_shapes(model, input):
    case = BenchCase(model, input, batch_size=2)
    x, y = case.batch()
    shape = INPUTS[input]
    assert x.shape == (2, shape.channels, shape.size, shape.size)
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    logits = case.backbone_factory()(shape.num_classes)(x)
    assert logits.shape == (2, shape.num_classes)


def test_the_lightning_step_timer_and_the_reference_loop_train():
    case = BenchCase("digits_cnn", "digits", batch_size=8)
    clock = lambda: 0.0  # noqa: E731
    timer = StepTimer(clock)
    module = runner.ERM(case.backbone_factory(), num_classes=10)
    before = [p.detach().clone() for p in module.parameters()]
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=case.loader(4))
    assert len(timer.stamps) == 4  # one stamp per step: 4 batches give 3 step times
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))
    reference = ReferenceERM(case.backbone_factory()(10), torch.device("cpu"), "32", False)
    before = [p.detach().clone() for p in reference.model.parameters()]
    assert len(reference.run(case.loader(3), clock)) == 3
    changed = zip(before, reference.model.parameters(), strict=True)
    assert any(not torch.equal(a, b) for a, b in changed)


def test_the_cpu_clock_counts_work_not_sleep():
    import time

    clock = Clock(torch.device("cpu"), "cpu")
    start = clock()
    time.sleep(0.2)
    slept = clock() - start
    start = clock()
    torch.randn(300, 300).matmul(torch.randn(300, 300)).sum().item()  # some real work
    worked = clock() - start
    assert slept < 0.05 and worked > 0
    with pytest.raises(ValueError):
        Clock(torch.device("cpu"), "sundial")


_FAULTS_SCRIPT = """
import resource, sys
import torch
from benign.bench.timing import steady_allocator

def faults(megabytes=64, times=5):
    for _ in range(2):  # first touches (the heap grows to its size), outside the count
        torch.empty(megabytes * 2**18).fill_(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(times):
        torch.empty(megabytes * 2**18).fill_(1.0)  # freed at once, then allocated again
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

mode = sys.argv[1]
if mode == "system":
    print(1, faults())
elif mode == "steady":
    with steady_allocator() as applied:
        print(int(applied), faults())
else:  # "restored": enter and leave the context, then allocate
    with steady_allocator() as applied:
        pass
    print(int(applied), faults())
"""


def minor_faults_of_reallocating(mode: str) -> tuple[bool, int]:
    """(whether the allocator could be set, minor page faults of re-allocating 64 MB 5 times),
    in a fresh process: the heap's history of the test session would blur the count."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _FAULTS_SCRIPT, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    return bool(int(out[0])), int(out[1])


@pytest.mark.slow  # ~35 s on 2 cores
def test_steady_allocator_removes_page_faults_of_reallocation():
    applied, steady = minor_faults_of_reallocating("steady")
    if not applied:
        pytest.skip("not glibc: the allocator is left alone")
    pages = 5 * 64 * 2**20 // 4096
    system = minor_faults_of_reallocating("system")[1]
    assert system > pages // 2  # each re-allocation faults its pages in again
    assert steady < system // 3  # most re-allocations reuse the kept memory
    # leaving the context sets glibc's defaults back: re-allocations fault again
    assert minor_faults_of_reallocating("restored")[1] > pages // 2
    with steady_allocator(enabled=False) as applied:
        assert not applied


def test_the_attack_cases_do_not_share_the_module_a_fit_moves():
    """Lightning moves a fitted module back to the CPU at teardown (on a GPU, the attack cases then
    found a CPU model and CUDA inputs). Stand-in here: convert the fitted module to float64 after
    its fit case; the PGD case must still run on its own float32 copy."""
    bench = runner._Bench(
        BenchSettings(model="small_cnn", input="digits", batch_size=8, steps=2, repeats=1)
    )
    assert len(bench.run_case("erm", 1)) == 1
    bench.modules["erm"].double()  # what teardown's .cpu() is to a CUDA run
    assert bench.attacked is not bench.modules["erm"]
    assert next(bench.attacked.parameters()).dtype == torch.float32
    assert len(bench.run_case("pgd", 1)) == 1
