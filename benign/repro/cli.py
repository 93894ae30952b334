"""``benign repro <experiment>``: run a paper experiment's grid, write results, figure, summary.

    benign repro label-noise --quick                 # digits on a CPU, one seed (~3 min)
    benign repro memorization --quick --seeds 3      # mean ± 95% CI over 3 seeds
    benign repro label-noise --dataset mnist --seeds 3 --out runs/e1-mnist
    benign repro label-noise --quick --jobs 2        # two processes (both CPU cores)
    benign repro label-noise --dataset cifar10 --seeds 3 --shard 0/4   # one of 4 processes

The grid resumes: rerunning the same command skips finished cells (``<out>/cells/``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import NoReturn

import torch

from benign.errors import ConfigError
from benign.repro.base import Experiment, run_experiment
from benign.repro.config import ReproSettings
from benign.repro.parallel import start_shards, wait_shards
from benign.repro.registry import EXPERIMENTS, get_experiment


class _Parser(argparse.ArgumentParser):
    """argparse raising a one-line :class:`ConfigError` instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"benign repro: {message} (see `benign repro --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="benign repro",
        description="Run a paper experiment: results.csv, figure.png and summary.md in --out.",
    )
    parser.add_argument("experiment", help=f"one of {', '.join(EXPERIMENTS)}")
    parser.add_argument("--dataset", default="digits", help="dataset of the grid (default: digits)")
    parser.add_argument(
        "--out", default=None, help="output folder (default: repro_out/<experiment>)"
    )
    parser.add_argument(
        "--seeds", type=int, default=1, help="run seeds 0..N-1 (training and noise seed)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the CPU-sized settings (digits; also mnist5k and fashion_mnist for the fit experiments)",
    )
    parser.add_argument(
        "--config",
        default=None,
        help="experiment settings YAML (default: configs/experiments/<experiment>.yaml)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="edit the experiment settings, e.g. --set noise_rates=[0,0.4] (repeatable)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1 with --quick, whose tiny models gain nothing from more; else torch's)",
    )
    parser.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="run only cells I, I+N, I+2N... of the grid (e.g. one process per GPU or SLURM array "
        "task); rerun without --shard at the end to gather every cell into one results.csv",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="run the grid in N processes, one shard each (one GPU each when there are several)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def shard_argv(args: argparse.Namespace, out: str) -> list[str]:
    """The ``benign repro`` arguments of ``args`` without ``--jobs`` (for the shard processes)."""
    argv = [args.experiment, "--dataset", args.dataset, "--seeds", str(args.seeds), "--out", out]
    argv += ["--quick"] * args.quick + (["--config", args.config] if args.config else [])
    argv += [item for override in args.overrides for item in ("--set", override)]
    return argv + (["--threads", str(args.threads)] if args.threads is not None else [])


def parse_shard(text: str) -> tuple[int, int]:
    """``"1/4"`` -> ``(1, 4)`` (ConfigError unless ``0 <= I < N``)."""
    index, _, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not 0 <= i < n:
        raise ConfigError(f"--shard {text!r} must be I/N with 0 <= I < N, e.g. --shard 0/4")
    return i, n


def shard(experiment: Experiment, index: int, count: int) -> None:
    """Restrict ``experiment``'s grid to every ``count``-th cell from ``index``."""
    cells = experiment.cells
    experiment.cells = lambda settings: cells(settings)[index::count]  # type: ignore[method-assign]


@contextlib.contextmanager
def _plain_argv() -> Iterator[None]:
    """Cells run LightningCLI in-process with explicit args: hide ``repro ...`` from it."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


def main(argv: list[str]) -> int:
    """Entry point of ``benign repro`` (dispatched from :func:`benign.cli.main`)."""
    args = build_parser().parse_args(argv)
    if args.experiment not in EXPERIMENTS:
        raise ConfigError(
            f"unknown experiment {args.experiment!r}: use one of {', '.join(EXPERIMENTS)}"
        )
    experiment = get_experiment(args.experiment)
    if args.dataset not in experiment.datasets:
        raise ConfigError(
            f"{args.experiment} does not run on dataset {args.dataset!r}: use one of {', '.join(experiment.datasets)}"
        )
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    if args.shard is not None:
        shard(experiment, *parse_shard(args.shard))
    threads = args.threads if args.threads is not None else (1 if args.quick else None)
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    settings = ReproSettings(
        dataset=args.dataset,
        seeds=args.seeds,
        quick=args.quick,
        out=args.out or os.path.join("repro_out", args.experiment),
        config=args.config,
        overrides=tuple(args.overrides),
    )
    if args.jobs > 1:
        if args.shard is not None:
            raise ConfigError(
                "--jobs and --shard do not combine: --jobs N runs shards 0..N-1 itself"
            )
        children = start_shards(
            shard_argv(args, settings.out), args.jobs, os.path.join(settings.out, "logs")
        )
        shard(experiment, 0, args.jobs)
        try:
            with _plain_argv():
                run_experiment(experiment, settings, progress=not args.no_progress)
        except BaseException:
            wait_shards(children, stop=True)
            raise
        wait_shards(children)
        experiment = get_experiment(args.experiment)  # the whole grid, every cell stored now
    elif args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    with _plain_argv():
        run_experiment(experiment, settings, progress=not args.no_progress)
    for name in ("results.csv", "figure.png", "summary.md"):
        print(f"benign repro: {name:<12} {os.path.join(settings.out, name)}")
    return 0
