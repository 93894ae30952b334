"""Loggers of a run: a CSV log always, and wandb (offline when there is no login)."""

from __future__ import annotations

import logging
import netrc
import os
from urllib.parse import urlparse

from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.utilities import rank_zero_info

from benign.errors import ConfigError
from benign.run_dir import RunLocation

log = logging.getLogger("benign")

WANDB_MODES = ("auto", "online", "offline", "disabled")


def wandb_logged_in() -> bool:
    """True when wandb has credentials: ``WANDB_API_KEY`` or a netrc entry for its host.

    Checked locally, without touching the network.
    """
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or ""
    path = os.environ.get("NETRC", os.path.join(os.path.expanduser("~"), ".netrc"))
    try:
        return netrc.netrc(path).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def resolve_wandb_mode(mode: str) -> str:
    """Turn ``auto`` into ``online`` or ``offline``; ``WANDB_MODE`` in the environment wins."""
    if mode not in WANDB_MODES:
        raise ConfigError(f"unknown wandb mode {mode!r}: use one of {', '.join(WANDB_MODES)}")
    env = os.environ.get("WANDB_MODE")
    if env in ("online", "offline", "disabled"):
        return env
    if env == "dryrun":
        return "offline"
    if mode == "auto":
        return "online" if wandb_logged_in() else "offline"
    return mode


def build_loggers(
    location: RunLocation,
    *,
    wandb_mode: str = "auto",
    project: str = "benign",
    group: str | None = None,
    tags: list[str] | None = None,
    job_type: str = "fit",
) -> list[Logger]:
    """A :class:`CSVLogger` writing ``metrics.csv`` into the run directory, then wandb.

    The CSV logger comes first so that ``trainer.log_dir`` is the run directory.
    """
    loggers: list[Logger] = [
        CSVLogger(save_dir=location.save_dir, name=location.name, version=location.version)
    ]
    mode = resolve_wandb_mode(wandb_mode)
    if mode == "disabled":
        return loggers
    from lightning.pytorch.loggers import WandbLogger

    if mode == "offline":
        # Our one line says where the run goes; wandb's own offline chatter adds nothing.
        os.environ.setdefault("WANDB_SILENT", "true")
        rank_zero_info(
            f"wandb: no login found, logging offline to {location.path}/wandb "
            "(upload later with `wandb sync`)"
        )
    loggers.append(
        WandbLogger(
            name=location.name,
            save_dir=location.path,
            project=project,
            group=group,
            tags=tags,
            job_type=job_type,
            offline=mode == "offline",
        )
    )
    return loggers
