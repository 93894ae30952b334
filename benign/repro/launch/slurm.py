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

The ``--slurm.*`` options are :mod:`benign.repro.launch.slurm_options`; the queries of the
array's state and the wait are :mod:`benign.repro.launch.slurm_jobs`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import submitit
from submitit.core.utils import FailedJobError
from submitit.helpers import Checkpointable

from benign.errors import ConfigError
from benign.repro.base import Cell
from benign.repro.config import Settings
from benign.repro.launch.cell import STOPPED_STATUS, experiment_named, run_cell
from benign.repro.launch.slurm_jobs import SlurmError, active, requeue_if_running, wait
from benign.repro.launch.slurm_options import SlurmOptions
from benign.repro.runner import CellsMissing, gather, grid, pending, stored_path

#: How many time limits in a row submitit's handler requeues a task for (preemptions and
#: ``benign fit``'s own requeues do not count).
MAX_TIMEOUTS = 20


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
    outputs = [os.path.join(settings.cells_dir, f"{name}.csv") for name in submission.tasks]
    wait(submission.array_job_id, outputs, progress=progress)
    try:
        gather(instance, settings, cells)
    except CellsMissing as error:
        raise CellsMissing(f"{missing_report(submission, settings, cells)}: {error}") from None
    return True
