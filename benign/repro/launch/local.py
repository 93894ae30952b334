"""``--launcher local`` / ``--jobs N``: a grid's cells in N worker processes on this machine.

A standard pool (:class:`concurrent.futures.ProcessPoolExecutor`, spawned workers) with one
task per cell: a worker takes the next cell as soon as it finishes one, so a slow cell (an AT
run) holds up only its own worker. With several GPUs each worker sees one of them
(``CUDA_VISIBLE_DEVICES``, round robin over the visible ones). A worker's console output goes to
``<out>/logs/worker-<i>.log`` (a Lightning cell's own output to ``<out>/logs/<cell>.log``).

submitit's ``LocalExecutor`` is not used: it starts every submitted job at once (no bound on
how many run together), which a grid of dozens of cells on a few cores or GPUs cannot afford.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from tqdm.auto import tqdm

from benign.repro.base import Cell
from benign.repro.config import Settings
from benign.repro.launch.cell import STOPPED_STATUS, run_cell, set_threads


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as ``CUDA_VISIBLE_DEVICES`` entries."""
    import torch

    if not torch.cuda.is_available():
        return []
    count = torch.cuda.device_count()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [item.strip() for item in visible.split(",") if item.strip()][:count]
    return [str(index) for index in range(count)]


def worker_threads(threads: int | None, workers: int) -> int:
    """Torch threads of each of ``workers`` processes: ``threads`` if given, else this
    machine's cores shared out (so that N workers do not each start one thread per core)."""
    if threads is not None:
        return threads
    return max(1, (os.cpu_count() or 1) // workers)


def worker_gpu(index: int, gpus: Sequence[str]) -> str | None:
    """The ``CUDA_VISIBLE_DEVICES`` of worker ``index``: one of several GPUs, round robin
    (None with one GPU or none: the worker sees what this process sees)."""
    return gpus[index % len(gpus)] if len(gpus) > 1 else None


def _init_worker(counter: Any, gpus: Sequence[str], threads: int, log_dir: str) -> None:
    """Runs once in every worker: its number, GPU, threads and log file."""
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    gpu = worker_gpu(index, gpus)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    os.makedirs(log_dir, exist_ok=True)
    log = os.open(
        os.path.join(log_dir, f"worker-{index}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    set_threads(threads)


def _run_in_worker(experiment: str, settings: Settings, cell: Cell) -> str:
    """:func:`run_cell` in a worker, saying in the worker's log which cell it runs."""
    print(f"benign repro: cell {cell.name}", flush=True)
    run_cell(experiment, settings, cell)
    return cell.name


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """In this (main) thread, SIGTERM raises SystemExit(143), so the pool is wound down."""

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(STOPPED_STATUS)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_local(
    experiment: str,
    settings: Settings,
    cells: Sequence[Cell],
    workers: int,
    threads: int | None = None,
    progress: bool = True,
) -> None:
    """Run ``cells`` of ``experiment`` in ``workers`` processes (each cell stores its rows).

    The first failing cell stops the grid: cells not started yet are dropped, running ones
    finish (and are stored), then its exception is raised here, a stopped cell's
    ``SystemExit(143)`` too (its checkpoint resumes it on the next run). SIGTERM or Ctrl-C here
    stops the running cells as it stops a fit: each saves a checkpoint first."""
    if not cells:
        return
    workers = max(1, min(workers, len(cells)))
    context = multiprocessing.get_context("spawn")
    init = (
        context.Value("i", 0),
        visible_gpus(),
        worker_threads(threads, workers),
        os.path.join(settings.out, "logs"),
    )
    bar = tqdm(total=len(cells), desc=f"repro {experiment}", unit="run", disable=not progress)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=init)
    failure: BaseException | None = None
    try:
        with _sigterm_as_exit():
            running: set[Future] = {
                pool.submit(_run_in_worker, experiment, settings, cell) for cell in cells
            }
            while running and failure is None:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    if future.exception() is not None:
                        failure = failure or future.exception()
                    else:
                        bar.update()
                        bar.set_postfix_str(future.result())
            pool.shutdown(wait=True, cancel_futures=True)
    except BaseException:
        for child in multiprocessing.active_children():
            with contextlib.suppress(OSError):
                os.kill(child.pid, signal.SIGTERM)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        bar.close()
    if failure is not None:
        raise failure
