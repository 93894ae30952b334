"""``benign rank``: which labels of a split are likely wrong, by a trained model's judgement.

    benign rank --ckpt_path runs/digits-at-noise0.05-seed0/checkpoints/last.ckpt --top 32

scores every point of the split (PAPER.md, E4: a robust model confidently rejects the labels
it did not fit), writes ``ranking.csv``, ``candidates.png`` and ``summary.md`` into ``--out``
(default ``<run>/rank-<split>``). The run's config is found from the checkpoint as for
``benign test``; ``--data.*`` options edit it as in ``benign fit``.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from benign.cli_args import expand_short_names
from benign.cli_errors import BenignArgumentParser
from benign.data import BenignDataModule
from benign.errors import ConfigError, check_choice
from benign.methods import BenignModule
from benign.rank.load import load_trained, run_config, training_attack
from benign.rank.ranking import StepsAttack, ranking_table, score_points, split_points
from benign.rank.report import check_out, write_outputs
from benign.rank.scores import SCORES
from benign.run_dir import run_dir_of_checkpoint

SPLITS = ("train", "val", "test")
SCORE_HELP = {
    "probability": "the highest probability of a class other than the given label; higher = "
    "more suspicious",
    "attack_steps": "linf PGD steps until the model predicts another class (Zhu et al. 2021); "
    "fewer = more suspicious, ties by probability",
}


#: ``benign rank``'s own options besides ``--ckpt_path``: (name, type, default, help).
OPTIONS: list[tuple[str, Any, Any, str]] = [
    ("config", str | None, None, "The run's config.yaml (default: the one beside checkpoints/)."),
    ("split", str, "train", f"One of {', '.join(SPLITS)}."),
    ("top", int, 32, "How many top candidates candidates.png shows."),
    ("out", str | None, None, "Output folder (default: <run>/rank-<split>, else rank_out)."),
    ("score", str, "probability", f"The ranking's score, one of {', '.join(SCORES)}."),
    ("max_steps", int, 20, "Attack steps tried per point (0: no attack_steps score)."),
    ("eps", float | None, None, "linf radius of the steps attack (default: the training one's)."),
    ("step_size", float | None, None, "Its step (default: the training attack's, else eps / 4)."),
    ("batch_size", int, 512, "Points scored at a time."),
]


def build_parser(defaults: dict[str, Any] | None = None) -> BenignArgumentParser:
    """The options of ``benign rank``; ``defaults``: the run's data and model sections."""
    parser = BenignArgumentParser(
        prog="benign rank",
        description="Rank a split's points by how likely their label is wrong: ranking.csv, "
        "candidates.png and summary.md in --out.",
    )
    parser.add_argument("--ckpt_path", type=str, required=True, help="The trained checkpoint.")
    for name, kind, default, text in OPTIONS:
        parser.add_argument(f"--{name}", type=kind, default=default, help=text)
    parser.add_subclass_arguments(BenignDataModule, "data", required=True)
    parser.add_subclass_arguments(BenignModule, "model", required=True)
    parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")
    if defaults:
        parser.set_defaults(defaults)
    return parser


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def check_options(args: Any) -> None:
    """One-line errors for a bad split, K, score, step count or output folder."""
    check_choice("--split", args.split, SPLITS, owner="benign rank")
    check_choice("--score", args.score, SCORES, owner="benign rank")
    if args.top < 1:
        raise ConfigError(f"benign rank: --top {args.top}: show at least 1 candidate (--top 32)")
    if args.max_steps < 0 or (args.score == "attack_steps" and args.max_steps < 1):
        raise ConfigError(
            f"benign rank: --max_steps {args.max_steps}: give a positive number of steps"
        )
    if args.batch_size < 1:
        raise ConfigError(f"benign rank: --batch_size {args.batch_size}: give a positive size")
    check_out(args.out)


def steps_attack(args: Any, model: Any) -> StepsAttack | None:
    """The ``attack_steps`` attack from the options and the model's training attack."""
    if args.max_steps == 0:
        return None
    eps, step = training_attack(model)
    eps = args.eps if args.eps is not None else eps
    if eps is None or eps <= 0:
        if args.score == "attack_steps" or args.eps is not None:
            raise ConfigError(
                "benign rank: the attack_steps score needs a positive --eps (the model has no "
                "training attack to take it from)"
            )
        return None
    step_size = args.step_size or (step if args.eps is None and step else eps / 4)
    return StepsAttack(float(eps), float(step_size), int(args.max_steps))


def main(argv: list[str]) -> int:
    """Entry point of ``benign rank`` (dispatched from :func:`benign.cli.main`)."""
    argv = expand_short_names(list(argv))
    if any(a in ("-h", "--help") for a in argv):
        build_parser().parse_args(["--help"])
    ckpt_path = _option(argv, "--ckpt_path")
    if ckpt_path is None:
        raise ConfigError("benign rank: --ckpt_path is required: the checkpoint to rank with")
    parser = build_parser(run_config(ckpt_path, _option(argv, "--config")))
    args = parser.parse_args(argv)
    if args.out is None:
        run_dir = run_dir_of_checkpoint(ckpt_path)
        args.out = os.path.join(run_dir, f"rank-{args.split}") if run_dir else "rank_out"
    check_options(args)
    objects = parser.instantiate_classes(args)
    model = load_trained(ckpt_path, objects.model, objects.data)
    steps = steps_attack(args, model)
    points = split_points(objects.data, args.split)
    arrays = score_points(model.to(_device()), points, args.batch_size, steps)
    ranking = ranking_table(arrays, points, args.score)
    info = {
        "split": args.split, "ckpt_path": ckpt_path, "score": args.score, "top": args.top,
        "score_help": SCORE_HELP[args.score], "command": shlex.join(["benign", "rank", *argv]),
    }  # fmt: skip
    write_outputs(args.out, ranking, points, list(objects.data.label_names), info)
    print(f"benign rank: wrote {', '.join(('ranking.csv', 'candidates.png', 'summary.md'))} "
          f"in {args.out}")  # fmt: skip
    return 0


def _device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
