"""``benign repro --jobs N``: spread a grid's cells over N processes (one GPU each if several).

Process ``i`` runs ``--shard i/N`` of the grid (this process takes shard 0, children the rest,
each writing its cells into the shared ``<out>/cells/``); once all are done the full grid is
"run" again, which finds every cell stored and only writes ``results.csv``, the figure and the
summary. Cells are independent ``benign fit`` runs, so this is the whole of the parallelism.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

import torch

from benign.errors import BenignError


class ShardFailed(BenignError, RuntimeError):
    """A child process of ``--jobs`` exited with an error."""


def start_shards(
    argv: Sequence[str], jobs: int, log_dir: str
) -> list[tuple[subprocess.Popen, str]]:
    """Start ``benign repro <argv> --shard i/jobs`` for ``i = 1 .. jobs-1``; their output goes to
    ``<log_dir>/shard-<i>.log``. With several GPUs, child ``i`` sees only GPU ``i mod count``."""
    os.makedirs(log_dir, exist_ok=True)
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    children = []
    for index in range(1, jobs):
        env = dict(os.environ)
        if gpus > 1:
            env["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
        log = os.path.join(log_dir, f"shard-{index}.log")
        command = [
            sys.executable,
            "-m",
            "benign.cli",
            "repro",
            *argv,
            "--shard",
            f"{index}/{jobs}",
            "--no-progress",
        ]
        with open(log, "w") as handle:
            children.append(
                (subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env), log)
            )
    return children


def wait_shards(children: Sequence[tuple[subprocess.Popen, str]], stop: bool = False) -> None:
    """Wait for the children (terminating them first when ``stop``); raise :class:`ShardFailed`
    naming the log of the first one that failed."""
    for process, _ in children:
        if stop and process.poll() is None:
            process.terminate()
    failed = [log for process, log in children if process.wait() != 0]
    if failed and not stop:
        raise ShardFailed(f"{len(failed)} of the --jobs processes failed: see {failed[0]}")
