"""Rewrites of the ``benign`` command line before LightningCLI parses it."""

from __future__ import annotations

import os

from benign.data import DATASETS
from benign.methods import METHODS
from benign.models import BACKBONES
from benign.registry import Registry
from benign.run_dir import run_dir_of_checkpoint

#: The component options that take a registry's short names (``--data digits``, ``--model at``,
#: ``--model.backbone digits_cnn``) besides class names and class paths.
SHORT_NAMES: dict[str, Registry] = {
    "data": DATASETS,
    "model": METHODS,
    "model.backbone": BACKBONES,
    "model.init_args.backbone": BACKBONES,
}


def expand_short_names(argv: list[str]) -> list[str]:
    """Rewrite ``--data digits`` / ``--model=at`` (a short name of :data:`SHORT_NAMES`) into the
    class path it stands for; class names and paths pass through to jsonargparse."""
    out = list(argv)
    for i, arg in enumerate(out):
        option, eq, value = arg.partition("=")
        registry = SHORT_NAMES.get(option[2:]) if option.startswith("--") else None
        if registry is None:
            continue
        if eq and value in registry:
            out[i] = f"{option}={registry[value]}"
        elif not eq and i + 1 < len(out) and out[i + 1] in registry:
            out[i + 1] = registry[out[i + 1]]
    return out


def add_run_config(argv: list[str]) -> list[str]:
    """``benign test --ckpt_path runs/X/checkpoints/last.ckpt`` with no ``--config``: use the
    run's own ``config.yaml`` (the data module and callbacks it was trained with)."""
    if not argv or argv[0] not in ("validate", "test", "predict"):
        return argv
    if any(a in ("-c", "--config") or a.startswith("--config=") for a in argv):
        return argv
    ckpt_path = None
    for i, arg in enumerate(argv):
        if arg == "--ckpt_path" and i + 1 < len(argv):
            ckpt_path = argv[i + 1]
        elif arg.startswith("--ckpt_path="):
            ckpt_path = arg.split("=", 1)[1]
    run_dir = run_dir_of_checkpoint(ckpt_path) if ckpt_path else None
    if run_dir is None:
        return argv
    return [argv[0], "--config", os.path.join(run_dir, "config.yaml"), *argv[1:]]
