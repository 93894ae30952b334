"""Loggers of a run: a CSV log always, and wandb (offline when there is no login)."""

from __future__ import annotations

import csv
import logging
import netrc
import os
from typing import Any
from urllib.parse import urlparse

from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
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


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, but an existing ``metrics.csv`` is continued, not deleted."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = list(next(csv.reader(file), []))


class RunCSVLogger(CSVLogger):
    """The run's ``metrics.csv``. A run resumed with ``--ckpt_path last`` appends to it (Lightning's
    own CSV logger would delete it), and the run directory's other files cause no warning."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def build_loggers(
    location: RunLocation,
    *,
    wandb_mode: str = "auto",
    project: str = "benign",
    group: str | None = None,
    tags: list[str] | None = None,
    job_type: str = "fit",
    run_id: str | None = None,
) -> list[Logger]:
    """A :class:`RunCSVLogger` writing ``metrics.csv`` into the run directory, then wandb.

    The CSV logger comes first so that ``trainer.log_dir`` is the run directory. ``run_id`` (kept
    in the run's ``run.json``) makes every start of one benign run, resumed or requeued, log to
    the same wandb run (``resume="allow"``; offline runs sync into it).
    """
    loggers: list[Logger] = [
        RunCSVLogger(save_dir=location.save_dir, name=location.name, version=location.version)
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

    class RunWandbLogger(WandbLogger):
        """Lightning's WandbLogger with one copy of the config: the CLI's (sent once by
        :class:`~benign.callbacks.run_config.SaveRunConfig`), not the model's hyperparameters
        again at the top level."""

        def log_hyperparams(self, params: Any) -> None:
            pass

    loggers.append(
        RunWandbLogger(
            # online, Lightning uploads the checkpoints at the end of the fit; offline it cannot,
            # and WandbRunArtifacts keeps the final one in the offline run for `wandb sync`
            log_model=mode == "online",
            name=location.name,
            save_dir=location.path,
            project=project,
            group=group,
            tags=tags,
            job_type=job_type,
            offline=mode == "offline",
            **({"id": run_id, "resume": "allow"} if run_id else {}),
        )
    )
    return loggers
