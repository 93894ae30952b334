"""Wall-clock timing that is fair to every case: the same clock, per-step samples, medians.

A step's time is the interval between the ends of two consecutive steps, so it holds everything
a step costs in a loop (fetching the batch, the hooks, the optimiser), and nothing of start-up.
On CUDA the clock synchronises first, so queued kernels count where they run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import lightning as L
import torch


class Clock:
    """``time.perf_counter`` in seconds, after a CUDA synchronisation on a CUDA device."""

    def __init__(self, device: torch.device) -> None:
        self.sync = device.type == "cuda"

    def __call__(self) -> float:
        if self.sync:
            torch.cuda.synchronize()
        return time.perf_counter()


def intervals(stamps: list[float]) -> list[float]:
    """Differences of consecutive time stamps: ``n + 1`` step ends give ``n`` step times."""
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


class StepTimer(L.Callback):
    """Stamps the end of every training batch of a ``Trainer.fit`` loop.

    ``intervals(timer.stamps)`` are the per-step times; the first step of a fit only sets the
    origin, so the optimiser's first step and the loop's start-up are never timed.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.stamps: list[float] = []

    def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:
        self.stamps.append(self.clock())


def time_calls(fn: Callable[[], object], calls: int, clock: Clock) -> list[float]:
    """Run ``fn`` ``calls + 1`` times back to back; the per-call times after the first."""
    stamps = []
    for _ in range(calls + 1):
        fn()
        stamps.append(clock())
    return intervals(stamps)


def summary_ms(samples: list[float]) -> dict[str, float]:
    """Median and quartiles of samples in seconds, in milliseconds."""
    if not samples:
        raise ValueError("no timing samples")
    ms = [1000.0 * s for s in samples]
    if len(ms) == 1:
        return {"median": ms[0], "q1": ms[0], "q3": ms[0]}
    q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive")
    return {"median": statistics.median(ms), "q1": q1, "q3": q3}
