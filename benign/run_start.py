"""Where a ``benign fit`` writes and what it resumes: the run directory and checkpoint of a start.

One decision per run, taken by global rank zero and handed to the other ranks:

- a SLURM job that was requeued continues the run directory it created (found by its job id in
  the directory's ``run.json``), from that run's newest checkpoint, never a ``-v<N>`` copy;
- ``--ckpt_path last`` continues the newest run of that name; a checkpoint inside a run
  directory continues that run;
- anything else claims a new directory (atomically, see :func:`~benign.run_dir.claim_run_dir`).

The processes Lightning starts for the other local ranks inherit the decision through the
environment; the tasks ``srun`` starts (one per rank) read it from a small hand-over file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benign.errors import ConfigError
from benign.run_dir import (
    RunLocation,
    claim_run_dir,
    latest_run_name,
    new_record,
    read_record,
    run_dir_of_checkpoint,
    run_of_job,
    versions_of,
    write_record,
)
from benign.slurm import job_key, launch_rank, restart_count

log = logging.getLogger("benign")

RUN_DIR_VARIABLE = "BENIGN_RUN_DIR"
RESUME_VARIABLE = "BENIGN_RESUME_CKPT"
#: How long the other srun tasks wait for rank zero's decision.
HANDOVER_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class FitStart:
    """The run directory of a fit, the checkpoint it resumes (``None``: a fresh start), and the
    run's identity record. Until :func:`start_fit` takes it, ``created`` means "to be claimed"
    (under ``location``'s name or the next free ``-v<N>``) and ``restart`` "to be cleared"."""

    location: RunLocation
    ckpt_path: str | None
    record: dict
    resumed: bool
    created: bool = False
    restart: bool = False


def last_checkpoint(run_dir: str) -> str | None:
    """``<run>/checkpoints/last.ckpt`` when it exists."""
    path = os.path.join(run_dir, "checkpoints", "last.ckpt")
    return path if os.path.isfile(path) else None


def start_fit(
    save_dir: str,
    base_name: str,
    ckpt_path: str | None,
    check: Callable[[FitStart], None] | None = None,
) -> FitStart:
    """Decide (rank zero) or learn (other ranks) where this fit writes and what it resumes.

    ``check`` sees rank zero's decision before anything is written: when it raises, no run
    directory is claimed and no earlier run is touched."""
    if launch_rank() > 0:
        return _follow_rank_zero(save_dir)
    start = _decide(save_dir, base_name, ckpt_path)
    if check is not None:
        check(start)
    start = _take(start, base_name)
    _hand_over(save_dir, start)
    return start


def _take(start: FitStart, base_name: str) -> FitStart:
    """Carry out a decision: claim the new directory or clear the run that starts again."""
    if start.restart:
        _clear_partial_run(start.location.path)
    if not start.created:
        return start
    save_dir = start.location.save_dir
    name = claim_run_dir(save_dir, start.location.name)
    record = new_record(name, job_key(), base_name)
    write_record(os.path.join(save_dir, name), record)
    return FitStart(
        RunLocation(save_dir, name), start.ckpt_path, record, resumed=False, created=True
    )


def _decide(save_dir: str, base_name: str, ckpt_path: str | None) -> FitStart:
    job = job_key()
    requeued = run_of_job(save_dir, job, base_name) if job else None
    if requeued is not None:
        run_dir = os.path.join(save_dir, requeued)
        resume = last_checkpoint(run_dir)
        # (stopped before its first checkpoint: that run starts again, in place)
        log.info(
            f"SLURM job {job} (restart {restart_count()}) continues run {requeued}"
            + (f" from {resume}" if resume else " from the start (it saved no checkpoint)")
        )
        return FitStart(
            RunLocation(save_dir, requeued),
            resume,
            read_record(run_dir),
            resumed=bool(resume),
            restart=resume is None,
        )
    if ckpt_path == "last":
        name = latest_run_name(save_dir, base_name)
        resume = last_checkpoint(os.path.join(save_dir, name)) if name else None
        if name is None or resume is None:
            looked = ", ".join(versions_of(save_dir, base_name)) or f"{base_name} (none exists)"
            raise ConfigError(
                f"--ckpt_path last: no checkpoint of an earlier run {base_name!r} under "
                f"{save_dir}/ (looked in: {looked}); drop --ckpt_path to start a new run, or "
                "pass --run_name of the run to resume"
            )
        return _resume(save_dir, name, resume)
    run_dir = run_dir_of_checkpoint(ckpt_path) if ckpt_path else None
    if run_dir is not None:
        return _resume(os.path.dirname(run_dir), os.path.basename(run_dir), ckpt_path)
    return FitStart(RunLocation(save_dir, base_name), ckpt_path, {}, resumed=False, created=True)


def _resume(save_dir: str, name: str, ckpt_path: str | None) -> FitStart:
    run_dir = os.path.join(save_dir, name)
    record = read_record(run_dir) or new_record(name, None)  # a run made before run.json
    return FitStart(RunLocation(save_dir, name), ckpt_path, record, resumed=True)


def _clear_partial_run(run_dir: str) -> None:
    """What a run that never checkpointed wrote, except its identity and its wandb run."""
    for name in ("metrics.csv", "noise.npz", "config.yaml"):
        if os.path.isfile(os.path.join(run_dir, name)):
            os.remove(os.path.join(run_dir, name))
    shutil.rmtree(os.path.join(run_dir, "checkpoints"), ignore_errors=True)


# -- handing the decision to the other ranks ------------------------------------------------------
def _handover_file(save_dir: str) -> str | None:
    job = job_key()
    if job is None or int(os.environ.get("SLURM_NTASKS", "1") or 1) < 2:
        return None
    return os.path.join(save_dir, ".launch", f"{job}.{restart_count()}.json")


def _hand_over(save_dir: str, start: FitStart) -> None:
    os.environ[RUN_DIR_VARIABLE] = start.location.path
    os.environ[RESUME_VARIABLE] = start.ckpt_path or ""
    path = _handover_file(save_dir)
    if path is None:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(f"{path}.tmp", "w") as handle:
        json.dump({"run_dir": start.location.path, "ckpt_path": start.ckpt_path}, handle)
    os.replace(f"{path}.tmp", path)


def _follow_rank_zero(save_dir: str) -> FitStart:
    path = _handover_file(save_dir)
    if path is not None and RUN_DIR_VARIABLE not in os.environ:
        deadline = time.monotonic() + HANDOVER_TIMEOUT_S
        while not os.path.isfile(path):
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"rank {launch_rank()} waited {HANDOVER_TIMEOUT_S:g} s for rank 0 to choose "
                    f"the run directory ({path}); is --trainer.default_root_dir on a shared disk?"
                )
            time.sleep(0.2)
        with open(path) as handle:
            decided = json.load(handle)
        run_dir, ckpt_path = decided["run_dir"], decided["ckpt_path"]
    else:
        run_dir = os.environ.get(RUN_DIR_VARIABLE)
        if not run_dir:
            raise ConfigError(
                "a secondary DDP rank started without its run directory: start benign fit "
                "through Lightning, srun or torchrun from rank 0's command"
            )
        ckpt_path = os.environ.get(RESUME_VARIABLE) or None
    run_dir = run_dir.rstrip(os.sep)
    location = RunLocation(os.path.dirname(run_dir), os.path.basename(run_dir))
    return FitStart(location, ckpt_path, read_record(run_dir), resumed=ckpt_path is not None)


def record_resume(run_dir: str, changes: dict[str, tuple[Any, Any]]) -> None:
    """Add a resume (its time and the options it changed, e.g. max_epochs) to ``run.json``."""
    record = read_record(run_dir)
    if not record:
        return
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "changed": {key: [old, new] for key, (old, new) in changes.items()},
    }
    write_record(run_dir, {**record, "resumes": [*record.get("resumes", []), entry]})


def mark_finished(run_dir: str) -> None:
    """Record that the run's fit ended (a later fit of the same SLURM job starts a new run)."""
    record = read_record(run_dir)
    if record and not record.get("finished"):
        write_record(run_dir, {**record, "finished": True})
