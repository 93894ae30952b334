"""``benign repro <experiment>``: run a paper experiment's grid, write results, figure, summary.

    benign repro label-noise --quick                 # digits on a CPU, one seed (~1 min)
    benign repro memorization --quick --seeds 3      # mean ± 95% CI over 3 seeds
    benign repro label-noise --dataset mnist --seeds 3 --out runs/e1-mnist
    benign repro label-noise --quick --jobs 2        # two worker processes (both CPU cores)
    benign repro label-noise --dataset cifar10 --seeds 3 --launcher slurm \\
        --slurm.partition gpu --slurm.gpus_per_task 1 --slurm.time 12:00:00   # a SLURM array

The grid resumes: rerunning the same command skips finished cells (``<out>/cells/``) and
resumes a cell stopped part-way from its checkpoint (``<out>/runs/<cell>/checkpoints/``).
"""

from __future__ import annotations

import argparse
import os
from typing import NoReturn

from benign.errors import ConfigError
from benign.repro.base import Experiment
from benign.repro.config import Settings
from benign.repro.launch import LAUNCHERS
from benign.repro.launch.cell import plain_argv, set_threads, stopped_as_exit_status
from benign.repro.launch.slurm_options import OPTION_HELP
from benign.repro.registry import EXPERIMENTS, get_experiment
from benign.repro.runner import gather, grid, pending, run_cells

LAUNCHER_HELP = """\
launchers:
  (default)       --jobs 1: the cells one after the other in this process
  local           --jobs N (or --launcher local --jobs N): N worker processes on this machine,
                  a dynamic queue (a worker takes the next cell when it finishes one), one GPU
                  each when there are several; worker logs in OUT/logs/
  slurm           one SLURM job array of the grid's pending cells, submitted with submitit
                  (--slurm.* or --slurm.config FILE); each cell runs in its own run directory
                  OUT/runs/<cell>; SIGUSR1 (--slurm.signal_delay_s before the time limit, or a
                  preemption) checkpoints it and requeues its task, which resumes the run;
                  submitit's logs in OUT/slurm/. With --wait this command blocks until the
                  array has ended, then gathers results.csv, figure.png and summary.md; without
                  it, it prints the array's job id and a dependent job (afterany) gathers them,
                  as does this same command run again once the array has ended.

Every launcher stores each cell's rows in OUT/cells/<cell>.csv, so the same grid and seeds give
the same results.csv whichever ran it, and a rerun only runs (or resumes) unfinished cells.
"""


class _Parser(argparse.ArgumentParser):
    """argparse raising a one-line :class:`ConfigError` instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"benign repro: {message} (see `benign repro --help`)")


def build_parser() -> argparse.ArgumentParser:
    """The ``benign repro`` parser: the grid, where its cells run, the SLURM options."""
    parser = _Parser(
        prog="benign repro",
        description="Run a paper experiment: results.csv, figure.png and summary.md in --out.",
        epilog=LAUNCHER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_grid_arguments(parser)
    _add_launcher_arguments(parser)
    slurm = parser.add_argument_group("SLURM options (--launcher slurm)")
    slurm.add_argument(
        "--slurm.config",
        dest="slurm_config",
        default=None,
        metavar="FILE",
        help="YAML with the --slurm.* keys below (the command line wins)",
    )
    for key, (metavar, text) in OPTION_HELP.items():
        slurm.add_argument(
            f"--slurm.{key}", dest=f"slurm_{key}", default=None, metavar=metavar, help=text
        )
    return parser


def _add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """What to run: the experiment, its dataset, seeds, mode, settings and output folder."""
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


def _add_launcher_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how the cells run: threads, launcher, workers, shard, waiting, progress."""
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads of each cell (default: 1 with --quick, whose tiny models gain "
        "nothing from more; else the cores shared out over the --jobs workers, or the SLURM "
        "task's CPUs)",
    )
    parser.add_argument(
        "--launcher",
        choices=LAUNCHERS,
        default=None,
        help="where the cells run: local worker processes or a SLURM job array (see below)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes of the local launcher (--jobs N alone means --launcher local; "
        "default 1: the cells run in this process; with --launcher local: one per GPU, else 1)",
    )
    parser.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="run only cells I, I+N, I+2N... of the grid and do not gather: for machines that "
        "share --out without SLURM (or under another scheduler's array), one shard each; run "
        "once more without --shard to gather every cell into results.csv",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="with --launcher slurm: block until the array has ended, then gather here",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


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


def shard_cells(cells: list, index: int, count: int) -> list:
    """Every ``count``-th cell from ``index`` (the cells of ``--shard index/count``)."""
    return list(cells)[index::count]


def resolve_launcher(args: argparse.Namespace) -> tuple[str | None, int]:
    """``(launcher, workers)``: None for this process, ``"local"`` or ``"slurm"``."""
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    slurm_given = args.slurm_config is not None or any(
        getattr(args, f"slurm_{key}") is not None for key in OPTION_HELP
    )
    launcher = args.launcher
    if launcher is None and args.jobs is not None and args.jobs > 1:
        launcher = "local"
    if launcher == "slurm":
        if args.jobs is not None:
            raise ConfigError(
                "--jobs is for the local launcher: with --launcher slurm use "
                "--slurm.array_parallelism to bound the tasks that run at once"
            )
        if args.shard is not None:
            raise ConfigError(
                "--shard and --launcher slurm do not combine: the array runs every pending cell"
            )
        return launcher, 0
    if slurm_given:
        raise ConfigError("--slurm.* options need --launcher slurm")
    if launcher == "local":
        return launcher, args.jobs if args.jobs is not None else _default_workers()
    return None, 1


def _default_workers() -> int:
    from benign.repro.launch.local import visible_gpus

    return max(1, len(visible_gpus()))


def main(argv: list[str]) -> int:
    """Entry point of ``benign repro`` (dispatched from :func:`benign.cli.main`)."""
    args = build_parser().parse_args(argv)
    experiment = get_experiment(args.experiment)
    settings = _settings(args, experiment)
    launcher, workers = resolve_launcher(args)
    shard = parse_shard(args.shard) if args.shard is not None else None
    threads = args.threads if args.threads is not None else (1 if args.quick else None)
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    progress = not args.no_progress
    if launcher == "slurm":
        return _run_on_slurm(args, settings, threads, progress)
    cells = grid(experiment, settings)
    todo = shard_cells(cells, *shard) if shard is not None else cells
    if launcher == "local":
        from benign.repro.launch.local import run_local

        with plain_argv():
            run_local(
                args.experiment, settings, pending(todo, settings), workers, threads, progress
            )
    else:
        set_threads(threads)
        with plain_argv(), stopped_as_exit_status():
            run_cells(experiment, todo, settings, progress=progress)
    if shard is not None:
        left = len(pending(cells, settings))
        print(
            f"benign repro: shard {args.shard}: {len(todo)} cells stored in {settings.cells_dir}; "
            f"{left} of the grid's {len(cells)} still to run; run without --shard to gather"
        )
        return 0
    gather(experiment, settings, cells)
    return _print_outputs(settings)


def _settings(args: argparse.Namespace, experiment: Experiment) -> Settings:
    """The run's :class:`Settings` from the command line (ConfigError for a dataset the
    experiment does not run on, or no seeds)."""
    if args.dataset not in experiment.datasets:
        raise ConfigError(
            f"{args.experiment} does not run on dataset {args.dataset!r}: use one of {', '.join(experiment.datasets)}"
        )
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ConfigError(
            f"--out {args.out} is a file, not a folder: give a folder for the results "
            f"(default repro_out/{args.experiment})"
        )
    return Settings(
        dataset=args.dataset,
        seeds=args.seeds,
        quick=args.quick,
        out=args.out or os.path.join("repro_out", args.experiment),
        config=args.config,
        overrides=tuple(args.overrides),
    )


def _run_on_slurm(
    args: argparse.Namespace, settings: Settings, threads: int | None, progress: bool
) -> int:
    """``--launcher slurm``: submit the array (and follow it with ``--wait``)."""
    from benign.repro.launch.slurm import launch
    from benign.repro.launch.slurm_options import SlurmOptions

    options = SlurmOptions.parse(
        args.slurm_config, {key: getattr(args, f"slurm_{key}") for key in OPTION_HELP}
    )
    if threads is None and options.cpus_per_task is not None:
        threads = options.cpus_per_task
    if not launch(args.experiment, settings, options, args.wait, threads, progress):
        return 0
    return _print_outputs(settings)


def _print_outputs(settings: Settings) -> int:
    for name in ("results.csv", "figure.png", "summary.md"):
        print(f"benign repro: {name:<12} {os.path.join(settings.out, name)}")
    return 0
