"""What ``benign`` prints: its own INFO lines on stderr, and a wandb run closed on time."""

from __future__ import annotations

import logging
import sys


def close_wandb(exit_code: int) -> None:
    """Finish the wandb run now (it would at exit), before SLURM stops a requeued job."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=exit_code)


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the message, not at creation: a
    program that calls :func:`main` more than once (or pytest) may have replaced it since."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def show_info_lines() -> None:
    """Print benign's INFO messages (e.g. the realised noise rate) on stderr, once."""
    logger = logging.getLogger("benign")
    if not any(isinstance(h, _CurrentStderrHandler) for h in logger.handlers):
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("benign: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    # The seed is in the run name and config.yaml; its log line would precede every error.
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
