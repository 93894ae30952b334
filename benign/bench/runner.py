"""Run the benchmark: every case timed in interleaved rounds, then medians and ratios.

Cases (PAPER.md's methods, on one backbone and batch):

- ``erm``, ``at``, ``trades``: one training step of :class:`~benign.methods.ERM`,
  :class:`~benign.methods.AdversarialTraining` (PGD-K, Madry et al. 2018) and
  :class:`~benign.methods.TRADES` (K-step KL attack, Zhang et al. 2019) in a real
  ``lightning.Trainer`` fit loop;
- ``reference``: the same ERM step in a plain-PyTorch loop;
- ``pgd``, ``torchattacks``: one call of our PGD-K and of torchattacks' on the ERM model.

With ``data_share`` set, also the data loader's share of an ERM epoch on that real dataset
(:mod:`benign.bench.data_share`); with the ``eval`` case, the default robustness evaluation's
cost against a PGD-20 grid on a digits model (:mod:`benign.bench.eval_cost`).

Each round runs every case for a few steps, in forward order on even rounds and backward order
on odd ones, compared cases side by side, so a load change on a shared machine hits them alike.
"""

from __future__ import annotations

import copy
import gc
import os
import platform
import warnings
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.warnings import PossibleUserWarning

from benign.attacks import PGD, TRADESAttack
from benign.bench.cases import BenchCase
from benign.bench.data_share import measure_data_share
from benign.bench.eval_cost import measure_eval_cost
from benign.bench.reference import ReferenceERM, autocast, quiet_lightning, torchattacks_pgd
from benign.bench.timing import (
    Clock,
    StepTimer,
    intervals,
    steady_allocator,
    step_timing_trainer,
    summary_ms,
    time_calls,
)
from benign.methods import ERM, TRADES, AdversarialTraining, BenignModule

#: Every case, in the order of a forward round: compared cases side by side.
CASES = ("erm", "reference", "pgd", "torchattacks", "at", "trades")
#: Cases ``--cases`` also accepts, measured on their own (not in the default set).
EXTRA_CASES = ("eval",)
#: Attack radius per input (pixel units): the usual linf settings of each dataset.
EPS = {"digits": 0.1, "mnist": 0.3, "cifar": 8 / 255}
PRECISIONS = {"32": "32-true", "bf16": "bf16-mixed"}


@dataclass
class BenchSettings:
    """What to time; see ``benign bench --help``."""

    model: str = "small_cnn"
    input: str = "cifar"
    batch_size: int = 128
    device: str = "cpu"
    steps: int = 10
    repeats: int = 10
    rounds: int = 5
    precision: str = "32"
    clock: str = "wall"
    steady_malloc: bool = True
    channels_last: bool = False
    compile: bool = False
    cases: tuple[str, ...] = CASES
    seed: int = 0
    #: A dataset whose training loader's share of an ERM epoch is also timed (None: not timed).
    data_share: str | None = None
    #: Batches of that epoch timed (capped at the training split's).
    data_batches: int = 50
    #: ``data_dir`` of that dataset (None: the data module's default).
    data_dir: str | None = None
    #: The digits checkpoint of the ``eval`` case (None: a stand-in trained in-process).
    eval_ckpt: str | None = None
    #: Test points of the ``eval`` case (None: all 540).
    eval_samples: int | None = None

    @property
    def case(self) -> BenchCase:
        return BenchCase(self.model, self.input, self.batch_size, self.device)

    @property
    def steps_per_round(self) -> int:
        """Timed steps of each case per round (at least one)."""
        return max(1, -(-self.repeats // self.rounds))


class _Bench:
    """The models, the batch and the timers of one benchmark."""

    def __init__(self, settings: BenchSettings) -> None:
        self.s = settings
        self.device = torch.device(settings.device)
        self.clock = Clock(self.device, settings.clock)
        torch.manual_seed(settings.seed)
        case = settings.case
        eps = EPS[settings.input]
        self.eps, self.alpha = eps, 2.5 * eps / settings.steps
        common = dict(
            num_classes=case.shape.num_classes,
            channels_last=settings.channels_last,
            compile=settings.compile,
        )
        factory = case.backbone_factory()
        self.modules: dict[str, BenignModule] = {
            "erm": ERM(factory, **common),
            "at": AdversarialTraining(
                factory, attack=PGD(eps, self.alpha, settings.steps), **common
            ),
            "trades": TRADES(
                factory, attack=TRADESAttack(eps, self.alpha, settings.steps), **common
            ),
        }
        self.reference = ReferenceERM(
            copy.deepcopy(self.modules["erm"].backbone),
            self.device,
            settings.precision,
            settings.channels_last,
        )
        if settings.compile:
            self.reference.model = torch.compile(self.reference.model)
        x, y = case.batch()
        self.x, self.y = x.to(self.device), y.to(self.device)
        if settings.channels_last:
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        # A copy: a Lightning fit moves the module it trained back to the CPU at its teardown, so
        # the fitted ERM module itself would be on the wrong device for the attack cases on a GPU.
        self.attacked = attacked = copy.deepcopy(self.modules["erm"]).to(self.device)
        ours = PGD(eps, self.alpha, settings.steps)
        self.attacks = {"pgd": lambda: ours(attacked, self.x, self.y)}
        if "torchattacks" in settings.cases:
            theirs = torchattacks_pgd(attacked, eps, self.alpha, settings.steps)
            self.attacks["torchattacks"] = lambda: theirs(self.x, self.y)

    def fit_steps(self, name: str, steps: int) -> list[float]:
        """Per-step times of ``steps`` training steps of a method in a Lightning fit loop."""
        timer = StepTimer(self.clock)
        trainer = step_timing_trainer(
            self.device,
            PRECISIONS[self.s.precision],
            steps,
            timer,
            benchmark=self.device.type == "cuda" or None,
        )
        loader = self.s.case.loader(steps + 1, pin_memory=self.device.type == "cuda")
        trainer.fit(self.modules[name], train_dataloaders=loader)
        return intervals(timer.stamps)

    def run_case(self, name: str, steps: int) -> list[float]:
        # The previous case's garbage (a whole Trainer) is not this case's cost.
        gc.collect()
        if name in self.modules:
            return self.fit_steps(name, steps)
        if name == "reference":
            loader = self.s.case.loader(steps + 1, pin_memory=self.device.type == "cuda")
            return intervals(self.reference.run(loader, self.clock))
        with autocast(self.device, self.s.precision):
            return time_calls(self.attacks[name], steps, self.clock)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either case was not timed."""
    if numerator is None or denominator is None:
        return None
    return numerator / denominator


def run_bench(settings: BenchSettings) -> dict[str, Any]:
    """Time the cases of ``settings``; the JSON-ready result (see ``benign bench --help``)."""
    load_before = _load_average()
    samples: dict[str, list[float]] = {name: [] for name in settings.cases if name in CASES}
    with (
        quiet_lightning(),
        warnings.catch_warnings(),
        steady_allocator(settings.steady_malloc) as steady,
    ):
        # One synthetic in-memory batch: a loader without workers is what we want to time.
        warnings.filterwarnings("ignore", category=PossibleUserWarning)
        data_share, evaluation = _side_measurements(settings)
        order = [name for name in CASES if name in settings.cases]
        bench = _Bench(settings) if order else None
        for name in order:  # warm-up round: allocators, kernels, compilation; not timed
            bench.run_case(name, 1)
        for round_index in range(settings.rounds):
            for name in order if round_index % 2 == 0 else order[::-1]:
                samples[name] += bench.run_case(name, settings.steps_per_round)
    summaries = {name: summary_ms(times) for name, times in samples.items()}
    median = {name: s["median"] for name, s in summaries.items()}
    k = settings.steps
    erm = median.get("erm")
    result: dict[str, Any] = {
        "lightning_overhead": ratio(erm, median.get("reference")),
        "at_cost_ratio": ratio(median.get("at"), None if erm is None else (k + 1) * erm),
        "attack_speedup": ratio(median.get("torchattacks"), median.get("pgd")),
        "data_loader_share": None if data_share is None else data_share["share"],
        "data_share": data_share,
        "device": settings.device,
        "device_name": _device_name(torch.device(settings.device)),
        "model": settings.model,
        "input": settings.input,
        "batch_size": settings.batch_size,
        "steps": k,
        "precision": settings.precision,
        "clock": settings.clock,
        "allocator": "steady" if steady else "system",
        "channels_last": settings.channels_last,
        "compile": settings.compile,
        "median_ms": median,
        "q1_ms": {name: s["q1"] for name, s in summaries.items()},
        "q3_ms": {name: s["q3"] for name, s in summaries.items()},
        "samples": {name: len(times) for name, times in samples.items()},
        "samples_ms": {name: [1000.0 * t for t in times] for name, times in samples.items()},
        "pgd_images_per_s": None,
        "threads": torch.get_num_threads(),
        "load_average": [load_before, _load_average()],
        "torch": torch.__version__,
        "lightning": L.__version__,
    }
    if "pgd" in median:
        result["pgd_images_per_s"] = settings.batch_size / (median["pgd"] / 1000.0)
    result["eval_cost_ratio"] = None
    if evaluation is not None:
        result.update(evaluation)
    return result


def _side_measurements(settings: BenchSettings) -> tuple[dict | None, dict | None]:
    """The data loader's share of an epoch (``data_share``) and the ``eval`` case, when asked
    for; first, so that a missing dataset fails before the timed cases."""
    data_share = evaluation = None
    if settings.data_share is not None:
        data_share = measure_data_share(
            settings.data_share,
            batches=settings.data_batches,
            rounds=settings.rounds,
            data_dir=settings.data_dir,
            device=settings.device,
            precision=PRECISIONS[settings.precision],
            clock=settings.clock,
            seed=settings.seed,
        )
    if "eval" in settings.cases:
        evaluation = measure_eval_cost(
            settings.eval_ckpt,
            rounds=settings.rounds,
            device=settings.device,
            clock=settings.clock,
            max_samples=settings.eval_samples,
            stand_in_steps=30 if settings.repeats <= 3 else 60,
        )
    return data_share, evaluation


def _load_average() -> float | None:
    """The 1-minute load average (None where the OS has none), to judge the timings' noise."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()
