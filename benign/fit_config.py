"""The config ``benign fit`` runs, read without running it (for experiment grids and the bench).

A recipe in ``configs/`` is layered (``configs/<dataset>/base.yaml`` under one small file per
method, joined by jsonargparse's ``config:`` key) and interpolated (``T_max:
${trainer.max_epochs}``), so only the CLI's own parser knows what it means: this module asks it,
as ``benign fit --config <path> --print_config`` does, in this process.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import sys
from typing import Any
from unittest import mock

import yaml
from omegaconf.errors import OmegaConfBaseException

from benign.errors import BenignError, ConfigError, first_line


@functools.lru_cache(maxsize=64)
def _printed_config(path: str) -> str:
    from benign.cli import BenignCLI  # the CLI imports every layer: only when a config is read

    printed = io.StringIO()
    try:
        # ``sys.argv`` is the calling command's (``benign repro ...``), not this parse's.
        with contextlib.redirect_stdout(printed), mock.patch.object(sys, "argv", sys.argv[:1]):
            BenignCLI(args=["fit", "--config", path, "--print_config"])
    except SystemExit as stop:
        if stop.code not in (0, None):
            raise ConfigError(f"{path}: not a valid benign fit config") from None
    except (BenignError, OmegaConfBaseException) as error:
        raise ConfigError(f"{path}: {first_line(str(error))}") from None
    return printed.getvalue()


def resolved_fit_config(path: str) -> dict[str, Any]:
    """The whole ``benign fit`` config of the recipe at ``path``: its layers merged, interpolation
    resolved, every default filled in (a fresh copy each call).

    Raises:
        ConfigError: one line naming ``path`` when the CLI rejects the file.
    """
    config = yaml.safe_load(_printed_config(str(path)))
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: not a valid benign fit config")
    return json.loads(json.dumps(config))
