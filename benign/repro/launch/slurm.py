"""``--launcher slurm``: a grid's pending cells as ONE SLURM job array, submitted with submitit.

Each array task runs one cell (:func:`benign.repro.launch.cell.run_cell`) in its own run
directory ``<out>/runs/<cell>`` and stores its rows in ``<out>/cells/<cell>.csv``; submitit's
files (pickled calls, the tasks' stdout/stderr) are in ``<out>/slurm/``. Then the rows are
gathered into ``results.csv``, ``figure.png`` and ``summary.md``: by this process after the array
ends with ``--wait``, else by a dependent job (``afterany`` on the array), or by running the same
command again (it finds every cell stored and only gathers).

Preemption and time limits. The array is submitted with ``--requeue`` and
``--signal=USR1@<signal_delay_s>``; every task runs with ``SUBMITIT_PREEMPT_SIGNAL=USR1``, so
submitit's own handler owns SIGUSR1 outside training. A SIGUSR1 (the time limit is near, or
``scancel --signal=USR1``) then requeues the task, which runs the same cell again and resumes
its run from the checkpoint in its own run directory:

* during training, ``benign fit`` handles it: it stops after the running batch, saves
  ``checkpoints/last.ckpt`` and exits with status 143 (and requeues its job under SLURM);
  :class:`CellTask` then requeues the task if it is still running, i.e. if the fit did not;
* outside training (data set-up, the final test, collecting the rows), submitit's handler
  requeues it (:class:`CellTask` is ``Checkpointable``, so on a time limit too) and exits.

A plain ``scancel`` (SIGTERM) stops a cell without requeueing it. Lightning's own SLURM
auto-requeue is never armed in these tasks (its handler is installed only where SIGUSR1 has
none): it would write ``hpc_ckpt_<n>.ckpt`` into ``<out>/runs/``, which every cell shares.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import submitit
import yaml
from submitit.core.utils import FailedJobError
from submitit.helpers import Checkpointable

from benign.errors import BenignError, ConfigError
from benign.repro.base import Cell, CellsMissing, Settings, gather, grid, pending, stored_path
from benign.repro.launch.cell import STOPPED_STATUS, experiment_named, run_cell

#: submitit reads its preemption signal from this variable (its default is USR2).
PREEMPT_SIGNAL_ENV = "SUBMITIT_PREEMPT_SIGNAL"
#: How many time limits in a row submitit's handler requeues a task for (preemptions and
#: ``benign fit``'s own requeues do not count).
MAX_TIMEOUTS = 20
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


# -- options ----------------------------------------------------------------------------------


def parse_time(value: Any) -> int:
    """A SLURM time limit in whole minutes: ``90``, ``"90"``, ``"MM:SS"``, ``"HH:MM:SS"``,
    ``"D-HH"``, ``"D-HH:MM"``, ``"D-HH:MM:SS"`` (seconds round up)."""
    text = str(value).strip()
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if isinstance(value, bool) or match is None:
        raise ConfigError(
            f"--slurm.time {value!r}: give minutes or [D-]HH:MM:SS, e.g. 90 or 01:30:00"
        )
    days, first, second, third = match.groups()
    parts = [int(p) for p in (first, second, third) if p is not None]
    if days is not None:  # D-HH[:MM[:SS]]
        hours, minutes, seconds = (parts + [0, 0])[:3]
        total = ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds
    elif len(parts) == 1:  # minutes
        total = parts[0] * 60
    elif len(parts) == 2:  # MM:SS
        total = parts[0] * 60 + parts[1]
    else:  # HH:MM:SS
        total = (parts[0] * 60 + parts[1]) * 60 + parts[2]
    if total <= 0:
        raise ConfigError(f"--slurm.time {value!r} must be positive")
    return math.ceil(total / 60)


def parse_mem(value: Any) -> str:
    """A SLURM memory size: a number of megabytes or one with a K/M/G/T suffix (``8G``)."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"\d+[KMGTkmgt]?[Bb]?", text):
        raise ConfigError(f"--slurm.mem {value!r}: give megabytes or a size like 8G or 500M")
    return text


def _positive_int(key: str) -> Any:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not re.fullmatch(r"\d+", str(value).strip()):
            raise ConfigError(f"--slurm.{key} {value!r} must be a whole number")
        number = int(str(value).strip())
        if number < (0 if key == "signal_delay_s" else 1):
            raise ConfigError(f"--slurm.{key} must be >= 1, got {number}")
        return number

    return parse


def _text(key: str) -> Any:
    def parse(value: Any) -> str:
        text = str(value).strip()
        if not text or any(c.isspace() for c in text):
            raise ConfigError(f"--slurm.{key} {value!r} must be one word")
        return text

    return parse


@dataclass(frozen=True)
class SlurmOptions:
    """The ``--slurm.*`` options (``--slurm.config FILE`` holds the same keys in YAML).

    Attributes:
        partition, account, qos: as ``sbatch --partition/--account/--qos`` (cluster default).
        gpus_per_task, cpus_per_task: resources of every array task (one cell).
        mem: memory of every task, ``8G`` or megabytes.
        time: time limit of every task in minutes (``--slurm.time`` also takes HH:MM:SS).
        array_parallelism: at most this many tasks run at once (``--array=0-N%K``).
        signal_delay_s: SIGUSR1 this many seconds before the time limit (checkpoint, requeue).
    """

    partition: str | None = None
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    time: int = 60
    array_parallelism: int | None = None
    account: str | None = None
    qos: str | None = None
    signal_delay_s: int = 90

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def parse(cls, config: str | None = None, values: Mapping[str, Any] | None = None):
        """Options from the YAML file ``config`` updated with ``values`` (the command line;
        None means not given)."""
        merged: dict[str, Any] = {}
        if config is not None:
            if not os.path.isfile(config):
                raise ConfigError(f"--slurm.config {config!r} not found: check the path")
            with open(config) as handle:
                data = yaml.safe_load(handle) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"--slurm.config {config} must hold a YAML mapping of options")
            unknown = sorted(set(data) - set(cls.keys()))
            if unknown:
                raise ConfigError(
                    f"--slurm.config {config}: unknown key(s) {', '.join(unknown)}; the keys are "
                    f"{', '.join(cls.keys())}"
                )
            merged.update({k: v for k, v in data.items() if v is not None})
        merged.update({k: v for k, v in (values or {}).items() if v is not None})
        return cls(**{key: _PARSERS[key](value) for key, value in merged.items()})

    def executor_parameters(self) -> dict[str, Any]:
        """submitit ``SlurmExecutor`` parameters for the cell tasks."""
        parameters: dict[str, Any] = {
            "time": self.time,
            "signal_delay_s": self.signal_delay_s,
            # SIGUSR1, not submitit's USR2: the signal benign fit checkpoints on.
            "setup": [f"export {PREEMPT_SIGNAL_ENV}=USR1"],
            "additional_parameters": {"signal": f"USR1@{self.signal_delay_s}", "requeue": True},
        }
        for key in ("partition", "gpus_per_task", "cpus_per_task", "mem", "account", "qos"):
            if getattr(self, key) is not None:
                parameters[key] = getattr(self, key)
        if self.array_parallelism is not None:
            parameters["array_parallelism"] = self.array_parallelism
        return parameters


_PARSERS: dict[str, Any] = {
    "partition": _text("partition"),
    "account": _text("account"),
    "qos": _text("qos"),
    "gpus_per_task": _positive_int("gpus_per_task"),
    "cpus_per_task": _positive_int("cpus_per_task"),
    "array_parallelism": _positive_int("array_parallelism"),
    "signal_delay_s": _positive_int("signal_delay_s"),
    "mem": parse_mem,
    "time": parse_time,
}


# -- inside a task ----------------------------------------------------------------------------


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


class CellTask(Checkpointable):
    """One array task: :func:`run_cell`, requeued when it is stopped to be preempted.

    ``Checkpointable``: on SIGUSR1 outside training, submitit's handler resubmits this same
    call (``checkpoint()``: the same arguments; the cell's state is its run directory) and
    requeues the task, also when its time limit is near."""

    def __call__(
        self, experiment: str, settings: Settings, cell: Cell, threads: int | None = None
    ) -> int:
        job_id = submitit.JobEnvironment().job_id
        restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
        print(f"benign repro: cell {cell.name}: task {job_id}, restart {restarts}", flush=True)
        if threads is None:  # the task's CPUs, not all of the node's
            cpus = os.environ.get("SLURM_CPUS_PER_TASK") or os.environ.get("SLURM_CPUS_ON_NODE")
            threads = int(cpus) if cpus and cpus.isdigit() else None
        try:
            return len(run_cell(experiment, settings, cell, threads))
        except SystemExit as stop:
            # A fit stopped by SIGUSR1/SIGTERM: its checkpoint is saved. Requeue unless it is
            # ending anyway (cancelled, or requeued already); no result is written, so the next
            # attempt runs the cell again and resumes from the checkpoint.
            if stop.code == STOPPED_STATUS and requeue_if_running(job_id):
                print(f"benign repro: cell {cell.name}: stopped, requeued {job_id}", flush=True)
            raise


def gather_task(experiment: str, settings: Settings) -> str:
    """The dependent gather job: ``results.csv``, figure and summary from the stored cells."""
    instance = experiment_named(experiment)
    gather(instance, settings, grid(instance, settings))
    return os.path.join(settings.out, "results.csv")


# -- submitting and waiting -------------------------------------------------------------------


@dataclass
class Submission:
    """What was submitted: saved as ``<out>/slurm/submitted.json``."""

    array_job_id: str
    tasks: dict[str, str]  # cell name -> job id of its task ("12_3"; "12" for a lone cell)
    gather_job_id: str | None = None

    @staticmethod
    def path(settings: Settings) -> str:
        return os.path.join(slurm_dir(settings), "submitted.json")

    def save(self, settings: Settings) -> None:
        with open(self.path(settings), "w") as handle:
            json.dump(asdict(self), handle, indent=1)

    @classmethod
    def load(cls, settings: Settings) -> Submission | None:
        try:
            with open(cls.path(settings)) as handle:
                return cls(**json.load(handle))
        except (OSError, ValueError, TypeError):
            return None


def slurm_dir(settings: Settings) -> str:
    """``<out>/slurm``, absolute (the tasks read their pickled calls from it)."""
    return os.path.abspath(os.path.join(settings.out, "slurm"))


def _executor(settings: Settings, parameters: Mapping[str, Any]) -> Any:
    if shutil.which("sbatch") is None or shutil.which("srun") is None:
        raise ConfigError(
            "--launcher slurm needs SLURM's sbatch and srun here (a login node of the cluster)"
        )
    executor = submitit.SlurmExecutor(folder=slurm_dir(settings), max_num_timeout=MAX_TIMEOUTS)
    executor.update_parameters(**parameters)
    return executor


def _submitted(action: Any) -> Any:
    """Run a submitit submission, turning sbatch's refusal into one line."""
    try:
        return action()
    except (subprocess.CalledProcessError, FailedJobError) as error:
        text = getattr(error, "stderr", None) or getattr(error, "output", None) or str(error)
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        lines = [line for line in str(text).splitlines() if line.strip()]
        raise SlurmError(f"sbatch refused the job: {lines[-1] if lines else error}") from error


def submit(
    experiment: str,
    settings: Settings,
    cells: Sequence[Cell],
    options: SlurmOptions,
    threads: int | None = None,
    gather_job: bool = True,
) -> Submission:
    """Submit ``cells`` as one job array (and, with ``gather_job``, the gather job after it)."""
    parameters = {"job_name": f"benign-{experiment}", **options.executor_parameters()}
    executor = _executor(settings, parameters)
    count = len(cells)
    jobs = _submitted(
        lambda: executor.map_array(
            CellTask(), [experiment] * count, [settings] * count, list(cells), [threads] * count
        )
    )
    array_id = str(jobs[0].job_id).split("_")[0]
    submission = Submission(
        array_id, {cell.name: str(job.job_id) for cell, job in zip(cells, jobs, strict=True)}
    )
    if gather_job:
        gather_parameters: dict[str, Any] = {
            "job_name": f"benign-{experiment}-gather",
            "time": 30,
            "cpus_per_task": 1,
            "dependency": f"afterany:{array_id}",
        }
        for key in ("partition", "account", "qos"):
            if getattr(options, key) is not None:
                gather_parameters[key] = getattr(options, key)
        gatherer = _executor(settings, gather_parameters)
        job = _submitted(lambda: gatherer.submit(gather_task, experiment, settings))
        submission.gather_job_id = str(job.job_id)
    submission.save(settings)
    return submission


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
    submission: Submission,
    settings: Settings,
    progress: bool = True,
    poll_s: float = 1.0,
    max_poll_s: float = 30.0,
) -> None:
    """Block until no task of the array may run again (a requeued task is waited for)."""
    from tqdm.auto import tqdm

    names = list(submission.tasks)
    bar = tqdm(
        total=len(names), desc=f"array {submission.array_job_id}", unit="cell", disable=not progress
    )
    try:
        confirmed, failures = False, 0
        while True:
            stored = sum(
                os.path.isfile(os.path.join(settings.cells_dir, f"{n}.csv")) for n in names
            )
            bar.update(stored - bar.n)
            try:
                running = active(submission.array_job_id)
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


def missing_report(submission: Submission | None, settings: Settings, cells: Sequence[Cell]) -> str:
    """A line naming the first cell without stored rows, its task and that task's log."""
    missing = [cell for cell in cells if not os.path.isfile(stored_path(settings, cell))]
    if not missing:
        return ""
    cell = missing[0]
    job_id = (submission.tasks if submission else {}).get(cell.name)
    if job_id is None:
        return f"{len(missing)} cells were not run, first {cell.name}"
    log = os.path.join(slurm_dir(settings), f"{job_id}_0_log.err")
    return f"{len(missing)} cells did not finish, first {cell.name} (task {job_id}, log {log})"


def launch(
    experiment: str,
    settings: Settings,
    options: SlurmOptions,
    wait_for_it: bool = False,
    threads: int | None = None,
    progress: bool = True,
) -> bool:
    """``benign repro --launcher slurm``: submit the pending cells as one array and gather.

    Returns True when ``results.csv`` was written here (``--wait``, or nothing left to run),
    False when the array (and the job that gathers after it) was only submitted."""
    instance = experiment_named(experiment)
    cells = grid(instance, settings)
    previous = Submission.load(settings)
    if previous is not None and active(previous.array_job_id):
        # The same command while its array still runs: follow it rather than submit twice.
        submission = previous
        print(
            f"benign repro: array job {previous.array_job_id} of this grid is still running",
            file=sys.stderr,
        )
    else:
        todo = pending(cells, settings)
        if not todo:
            gather(instance, settings, cells)
            return True
        submission = submit(
            experiment, settings, todo, options, threads, gather_job=not wait_for_it
        )
        print(
            f"benign repro: submitted array job {submission.array_job_id}: {len(todo)} of the "
            f"{len(cells)} cells of {experiment} (logs in {slurm_dir(settings)})",
            file=sys.stderr,
        )
    if not wait_for_it:
        gatherer = (
            f"job {submission.gather_job_id} gathers them after it (afterany)"
            if submission.gather_job_id
            else "rerun with --wait to gather them"
        )
        print(
            f"benign repro: results.csv, figure.png and summary.md go to {settings.out}: "
            f"{gatherer}; or run this command again once the array has ended",
            file=sys.stderr,
        )
        return False
    wait(submission, settings, progress=progress)
    try:
        gather(instance, settings, cells)
    except CellsMissing as error:
        raise CellsMissing(f"{missing_report(submission, settings, cells)}: {error}") from None
    return True
