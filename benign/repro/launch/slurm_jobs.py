"""What SLURM says about the array of ``benign repro --launcher slurm``: task states, requeueing
a stopped task, and waiting until no task may run again."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Sequence

from benign.errors import BenignError

#: SLURM states after which a task never runs again by itself.
TERMINAL = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "SPECIAL_EXIT",
        "REVOKED",
    }
)


class SlurmError(BenignError, RuntimeError):
    """SLURM refused a submission or a query (the message says what it answered)."""


def _scontrol(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["scontrol", *args], capture_output=True, text=True, timeout=60)


def job_state(job_id: str) -> str | None:
    """``scontrol show job``'s JobState of a job or array task (None if SLURM does not know it)."""
    out = _scontrol("show", "job", "--oneliner", job_id)
    match = re.search(r"\bJobState=(\S+)", out.stdout)
    return match.group(1) if out.returncode == 0 and match else None


def requeue_if_running(job_id: str) -> bool:
    """Requeue the job unless it is ending already: a cancelled task (``scancel``'s SIGTERM)
    stays cancelled, and one that ``benign fit`` requeued itself is not requeued twice."""
    if job_state(job_id) != "RUNNING":
        return False
    out = _scontrol("requeue", job_id)
    return out.returncode == 0


def task_states(job_id: str) -> dict[str, str] | None:
    """Each task's state (``{"12_0": "RUNNING", "12_[1-3]": "PENDING"}``), None once SLURM
    forgot the job."""
    out = subprocess.run(
        ["squeue", "--noheader", "--states=all", f"--jobs={job_id}", "--format=%i|%T"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0:
        if "Invalid job id" in out.stderr:
            return None
        raise SlurmError(f"squeue failed for job {job_id}: {out.stderr.strip()}")
    rows = [line.split("|", 1) for line in out.stdout.splitlines() if "|" in line]
    return {task.strip(): state.strip() for task, state in rows} or None


def active(job_id: str) -> bool:
    """Whether a task of the job may still run (pending, running, being requeued...)."""
    states = task_states(job_id)
    return states is not None and any(state not in TERMINAL for state in states.values())


def wait(
    job_id: str,
    outputs: Sequence[str],
    progress: bool = True,
    poll_s: float = 1.0,
    max_poll_s: float = 30.0,
) -> None:
    """Block until no task of array ``job_id`` may run again (a requeued task is waited for);
    the progress bar counts the task ``outputs`` (files) that exist."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(outputs), desc=f"array {job_id}", unit="cell", disable=not progress)
    try:
        confirmed, failures = False, 0
        while True:
            bar.update(sum(os.path.isfile(path) for path in outputs) - bar.n)
            try:
                running = active(job_id)
                failures = 0
            except (SlurmError, subprocess.TimeoutExpired):
                failures += 1  # slurmctld busy or restarting: ask again, a few times
                if failures > 10:
                    raise
                time.sleep(max_poll_s)
                continue
            if not running:
                if confirmed:  # twice in a row: no requeue was under way in between
                    return
                confirmed = True
                time.sleep(min(poll_s, 2.0))
                continue
            confirmed = False
            time.sleep(poll_s)
            poll_s = min(max_poll_s, poll_s * 1.5)
    finally:
        bar.close()
