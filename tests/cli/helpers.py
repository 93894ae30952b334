"""Running the ``benign`` command in-process or as a subprocess from tests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from benign.cli import main


def run_benign(args: list[str], monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    """Run ``benign <args>`` in this process; return its exit status."""
    if monkeypatch is not None:
        monkeypatch.setattr(sys, "argv", ["benign"])
    try:
        main(list(args))
    except SystemExit as exit:
        return int(exit.code or 0)
    return 0


def run_benign_subprocess(
    args: list[str], cwd: str, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m benign.cli <args>`` in a fresh interpreter (needed for DDP and wandb).

    ``env`` replaces the environment (default: this one with wandb disabled)."""
    if env is None:
        env = dict(os.environ, WANDB_MODE=os.environ.get("WANDB_MODE", "disabled"))
    env = dict(env, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "benign.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
