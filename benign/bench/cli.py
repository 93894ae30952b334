"""``benign bench``: time our training steps and attacks against plain PyTorch and torchattacks.

    benign bench --quick --json bench.json             # tiny, well under a minute on a CPU
    benign bench --model small_cnn --input digits       # at_cost_ratio, attack_speedup
    benign bench --model preact_resnet18 --input cifar --batch-size 128 --cases erm,reference
    benign bench --device cuda --precision bf16 --channels-last
    benign bench --quick --cases erm --data-share fashion_mnist   # data loader's share of an epoch
    benign bench --cases eval --eval-ckpt runs/digits-erm-noise0.2-seed0/checkpoints/last.ckpt

Prints the per-case medians and the ratios ``lightning_overhead`` (our Lightning ERM step over a
plain-PyTorch one), ``at_cost_ratio`` (our PGD-K adversarial-training step over K+1 ERM steps;
1.0 is no better than naive) and ``attack_speedup`` (torchattacks' PGD time over ours).
``--data-share DATASET`` adds ``data_loader_share``: the real dataset's training loader alone over
an ERM epoch on the same batches, with ``configs/<DATASET>/erm.yaml``'s model and batch size.
``--cases eval`` (not in the default set) adds ``eval_cost_ratio``: the default robustness
evaluation's time over a PGD-20-per-eps grid's on the same digits test points, with both robust
accuracies (:mod:`benign.bench.eval_cost`).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any, NoReturn

import torch

from benign.bench.cases import INPUTS, MODELS
from benign.bench.data_share import data_share_datasets
from benign.bench.eval_cost import format_eval
from benign.bench.runner import CASES, EXTRA_CASES, PRECISIONS, BenchSettings, run_bench
from benign.bench.timing import CLOCKS
from benign.errors import ConfigError, check_choice

#: Defaults of a full run and of ``--quick`` (an explicit option wins over both).
DEFAULTS = {
    "model": "small_cnn",
    "input": "cifar",
    "batch_size": 128,
    "steps": 10,
    "repeats": 10,
    "rounds": 5,
    "data_batches": 50,
}
QUICK = {
    "model": "small_cnn",
    "input": "digits",
    "batch_size": 32,
    "steps": 3,
    "repeats": 3,
    "rounds": 1,
    "data_batches": 10,
}

LABELS = {
    "erm": "ERM step (Lightning)",
    "reference": "ERM step (plain PyTorch)",
    "at": "AT step (PGD-{k})",
    "trades": "TRADES step (KL-{k})",
    "pgd": "PGD-{k} attack (ours)",
    "torchattacks": "PGD-{k} attack (torchattacks)",
}


class _Parser(argparse.ArgumentParser):
    """argparse raising a one-line :class:`ConfigError` instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"benign bench: {message} (see `benign bench --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="benign bench",
        description="Time ERM/AT/TRADES steps and PGD on synthetic batches; print medians and ratios.",
    )
    parser.add_argument(
        "--model", default=None, help=f"backbone: {', '.join(MODELS)} (default small_cnn)"
    )
    parser.add_argument(
        "--input", default=None, help=f"input shape: {', '.join(INPUTS)} (default cifar)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default 128)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument(
        "--steps", type=int, default=None, help="K of PGD-K and of the TRADES attack (default 10)"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed steps per case (default 10)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="interleaved rounds the repeats are split into (default 5)",
    )
    parser.add_argument(
        "--precision", default="32", help="32 or bf16 (autocast, Lightning's bf16-mixed)"
    )
    parser.add_argument(
        "--clock",
        default="wall",
        help="wall (elapsed) or cpu (this process's CPU time: steadier on a shared CPU; cpu only)",
    )
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="leave glibc's allocator as it is (default: keep freed memory: far fewer page faults a step)",
    )
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    parser.add_argument("--compile", action="store_true", help="torch.compile the backbone")
    _add_measurement_options(parser)
    parser.add_argument(
        "--json", default=None, metavar="FILE", help="also write the results as JSON"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny run: small_cnn, digits input, few repeats"
    )
    return parser


def _add_measurement_options(parser: argparse.ArgumentParser) -> None:
    """What is measured: the cases, threads, the data-loader share and the eval case."""
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"comma-separated subset of {','.join(CASES + EXTRA_CASES)} (default: all but eval)",
    )
    parser.add_argument(
        "--eval-ckpt",
        default=None,
        metavar="CKPT",
        help="digits checkpoint of the eval case (default: a stand-in trained in-process)",
    )
    parser.add_argument(
        "--eval-samples", type=int, default=None, help="test points of the eval case (default all)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1 with --quick, else torch's)",
    )
    parser.add_argument(
        "--data-share",
        default=None,
        metavar="DATASET",
        help="also time the data loader's share of an ERM epoch on this dataset, with its "
        f"configs/<DATASET>/erm.yaml: one of {', '.join(data_share_datasets())} (default: off)",
    )
    parser.add_argument(
        "--data-batches",
        type=int,
        default=None,
        help="batches of that epoch timed (default 50, 10 with --quick)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data_dir of the --data-share dataset (default: the data module's, data/)",
    )


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    """Check the options (one-line ConfigError) and fill the defaults."""
    defaults = QUICK if args.quick else DEFAULTS
    values = {
        key: getattr(args, key) if getattr(args, key) is not None else default
        for key, default in defaults.items()
    }
    check_choice("--model", values["model"], MODELS, owner="benign bench")
    check_choice("--input", values["input"], INPUTS, owner="benign bench")
    check_choice("--device", args.device, ("cpu", "cuda"), owner="benign bench")
    check_choice("--precision", args.precision, PRECISIONS, owner="benign bench")
    check_choice("--clock", args.clock, CLOCKS, owner="benign bench")
    if args.clock == "cpu" and args.device != "cpu":
        raise ConfigError(
            "benign bench: --clock cpu cannot see GPU work: use --clock wall with --device cuda"
        )
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("benign bench: --device cuda but CUDA is not available: use --device cpu")
    for flag, key, minimum in (
        ("--batch-size", "batch_size", 2),
        ("--steps", "steps", 1),
        ("--repeats", "repeats", 1),
        ("--rounds", "rounds", 1),
        ("--data-batches", "data_batches", 1),
    ):
        if values[key] < minimum:
            raise ConfigError(f"benign bench: {flag} must be >= {minimum}, got {values[key]}")
    if values["rounds"] > values["repeats"]:
        raise ConfigError(
            f"benign bench: --rounds {values['rounds']} exceeds --repeats {values['repeats']}: "
            "each round times at least one step of every case"
        )
    cases = tuple(name.strip() for name in args.cases.split(",") if name.strip())
    unknown = [name for name in cases if name not in CASES + EXTRA_CASES]
    if unknown or not cases:
        raise ConfigError(
            f"benign bench: unknown --cases {','.join(unknown) or '(none)'}: use a subset of {','.join(CASES + EXTRA_CASES)}"
        )
    if args.eval_samples is not None and args.eval_samples < 1:
        raise ConfigError(f"benign bench: --eval-samples must be >= 1, got {args.eval_samples}")
    if args.data_share is not None:
        check_choice("--data-share", args.data_share, data_share_datasets(), owner="benign bench")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"benign bench: --threads must be >= 1, got {args.threads}")
    return BenchSettings(
        device=args.device,
        precision=args.precision,
        clock=args.clock,
        steady_malloc=not args.system_malloc,
        channels_last=args.channels_last,
        compile=args.compile,
        cases=cases,
        data_share=args.data_share,
        data_dir=args.data_dir,
        eval_ckpt=args.eval_ckpt,
        eval_samples=args.eval_samples,
        **values,
    )


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def format_table(result: dict[str, Any]) -> str:
    """The human-readable report of :func:`~benign.bench.runner.run_bench`'s result."""
    k = result["steps"]
    load = " -> ".join(_fmt(v, 2) for v in result["load_average"])
    lines = [
        f"benign bench: {result['model']}, {result['input']}-shaped input, batch {result['batch_size']}, "
        f"{result['device']} ({result['device_name']}, {result['threads']} threads), precision "
        f"{result['precision']}, {result['clock']} clock, {result['allocator']} allocator{', channels_last' if result['channels_last'] else ''}"
        f"{', compiled' if result['compile'] else ''}; load average {load}",
        f"{'case':<32}{'median ms':>12}{'q1 ms':>12}{'q3 ms':>12}{'n':>5}",
    ]
    for name, median in result["median_ms"].items():
        label = LABELS[name].format(k=k)
        lines.append(
            f"{label:<32}{median:>12.2f}{result['q1_ms'][name]:>12.2f}"
            f"{result['q3_ms'][name]:>12.2f}{result['samples'][name]:>5}"
        )
    if result["pgd_images_per_s"] is not None:
        lines.append(f"PGD-{k} throughput (ours): {result['pgd_images_per_s']:.1f} images/s")
    lines += [
        f"lightning_overhead = {_fmt(result['lightning_overhead'])}  (Lightning ERM step / plain-PyTorch ERM step)",
        f"at_cost_ratio      = {_fmt(result['at_cost_ratio'])}  (AT step / ({k}+1) x ERM step; 1.0 = naive)",
        f"attack_speedup     = {_fmt(result['attack_speedup'])}  (torchattacks PGD / our PGD)",
    ]
    if result.get("eval_cost_ratio") is not None:
        lines += format_eval(result)
    share = result.get("data_share")
    if share is not None:
        lines += [
            f"data loader, {share['dataset']} ({share['config']}: {share['backbone']}, batch "
            f"{share['batch_size']}, {share['num_workers']} workers, {share['batches']} batches "
            f"of {share['train_size']} training points, {share['rounds']} rounds):",
            f"{'  training loader alone':<32}{share['loader_ms']:>12.2f} ms",
            f"{'  ERM epoch (Lightning)':<32}{share['epoch_ms']:>12.2f} ms",
            f"data_loader_share  = {_fmt(result['data_loader_share'], 4)}  "
            "(training loader alone / ERM epoch over the same batches)",
        ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Entry point of ``benign bench`` (dispatched from :func:`benign.cli.main`)."""
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    # --quick's tiny model gains nothing from more threads, and loses a lot on a busy machine.
    threads = args.threads if args.threads is not None else (1 if args.quick else None)
    if threads is not None:
        torch.set_num_threads(threads)
    result = run_bench(settings)
    print(format_table(result))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
        print(f"benign bench: wrote {args.json}")
    return 0
