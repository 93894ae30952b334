"""What a run needs to know about the SLURM job it runs in (read from SLURM's own variables)."""

from __future__ import annotations

import logging
import os
import subprocess

log = logging.getLogger("benign")


def job_key() -> str | None:
    """This job's id as ``scontrol`` names it: ``<array job>_<task>`` for an array task, else
    ``<job id>``; ``None`` outside SLURM. It stays the same when the job is requeued."""
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"{array_job}_{task}"
    return os.environ.get("SLURM_JOB_ID") or None


def restart_count() -> int:
    """How many times SLURM has requeued this job (``SLURM_RESTART_COUNT``; 0 at first)."""
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT", "0"))
    except ValueError:
        return 0


def launch_rank() -> int:
    """The global rank of this process as its launcher set it, before any process group exists:
    torchrun's ``RANK``, srun's ``SLURM_PROCID`` (when the step has several tasks), or the
    ``NODE_RANK``/``LOCAL_RANK`` that Lightning gives the processes it starts."""
    if os.environ.get("RANK", "").isdigit():
        return int(os.environ["RANK"])
    if int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_STEP_ID" in os.environ:
        return int(os.environ.get("SLURM_PROCID", "0") or 0)
    return int(os.environ.get("NODE_RANK", "0") or 0) + int(os.environ.get("LOCAL_RANK", "0") or 0)


def requeue_this_job(is_global_zero: bool | None = None) -> bool:
    """``scontrol requeue`` this job (from global rank zero only); True when SLURM accepted it."""
    key = job_key()
    if key is None or not (launch_rank() == 0 if is_global_zero is None else is_global_zero):
        return False
    try:
        result = subprocess.run(
            ["scontrol", "requeue", key], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError) as error:
        log.warning(f"could not requeue SLURM job {key}: {error}")
        return False
    if result.returncode != 0:
        log.warning(
            f"could not requeue SLURM job {key}: {result.stderr.strip() or result.returncode} "
            "(submit with --requeue)"
        )
        return False
    return True


_requeue_requested = False


def request_requeue() -> None:
    """Ask for this job to be requeued once the run has saved and closed its logs (see
    :func:`requeue_if_requested`): requeueing a running job makes SLURM stop it."""
    global _requeue_requested
    _requeue_requested = job_key() is not None


def requeue_if_requested() -> bool:
    """Requeue this job if :func:`request_requeue` asked for it (rank zero only)."""
    global _requeue_requested
    if not _requeue_requested:
        return False
    _requeue_requested = False
    return requeue_this_job()
