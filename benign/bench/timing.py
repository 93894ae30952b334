"""Wall-clock timing that is fair to every case: the same clock, per-step samples, medians.

A step's time is the interval between the ends of two consecutive steps, so it holds everything
a step costs in a loop (fetching the batch, the hooks, the optimiser), and nothing of start-up.
On CUDA the clock synchronises first, so queued kernels count where they run. On a CPU shared
with other jobs, the ``cpu`` clock (this process's CPU time) is far steadier than elapsed time.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch

#: ``--clock`` choices: elapsed time, or the CPU time this process used (CPU devices only).
CLOCKS = ("wall", "cpu")


class Clock:
    """Seconds on ``kind``'s clock: ``"wall"`` is ``time.perf_counter`` (after a CUDA
    synchronisation on a CUDA device); ``"cpu"`` is ``time.process_time``, the CPU time of this
    process, which leaves out the time other processes of a shared machine hold the cores (with
    one thread it is the work a step costs; with several it also counts their spin-waits)."""

    def __init__(self, device: torch.device, kind: str = "wall") -> None:
        if kind not in CLOCKS:
            raise ValueError(f"unknown clock {kind!r}; expected one of {CLOCKS}")
        if kind == "cpu" and device.type != "cpu":
            raise ValueError("the cpu clock does not see device work: use the wall clock")
        self.sync = device.type == "cuda"
        self.now = time.process_time if kind == "cpu" else time.perf_counter

    def __call__(self) -> float:
        if self.sync:
            torch.cuda.synchronize()
        return self.now()


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


# glibc mallopt parameters and their defaults (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536


@contextlib.contextmanager
def steady_allocator(enabled: bool = True) -> Iterator[bool]:
    """Keep freed memory inside the process for a while (glibc: no ``mmap`` for large blocks,
    no trimming of the heap); yields whether it could.

    Without it, a CPU step that frees and re-allocates its activations pays thousands of page
    faults (the kernel zeroing fresh pages, ~10% of a small CNN's step here), and how many
    depends on the allocation history, so two loops doing the same work differ by more than
    the effects measured. jemalloc or tcmalloc give training runs the same steady state. The
    defaults are set back afterwards.
    """
    libc = _glibc() if enabled else None
    if libc is None:
        yield False
        return
    applied = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    try:
        yield applied
    finally:
        libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
        libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only (not musl)
    except (OSError, AttributeError):
        return None
    return libc


def step_timing_trainer(
    device: torch.device,
    precision: str,
    steps: int,
    timer: StepTimer,
    benchmark: bool | None = None,
) -> L.Trainer:
    """A one-epoch Lightning Trainer of ``steps + 1`` training steps (the first only starts the
    clock), stamped by ``timer``, with nothing else that costs time: no validation, logger,
    checkpoints, progress bar or model summary."""
    return L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        precision=precision,
        max_epochs=1,
        limit_train_batches=steps + 1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        benchmark=benchmark,
        callbacks=[timer],
    )
