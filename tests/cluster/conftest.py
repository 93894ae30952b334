"""The ``slurm`` fixture: submit real jobs to the local cluster of ``make slurm`` and follow them.

A test that uses it is a ``slurm`` test (tests/conftest.py marks it): it skips when no SLURM
node answers and fails in CI. Jobs run as the submitting user with this test's environment
(``sbatch --export=ALL``), in the test's tmp dir unless ``cwd`` says otherwise; jobs still
queued or running when the test ends are cancelled.

    def test_something(slurm, tmp_path):
        job = slurm.submit("echo $SLURM_JOB_ID > id", sbatch_options=["--ntasks=1"])
        assert slurm.wait(job) == "COMPLETED"
        job = slurm.submit(f'"$BENIGN" fit --config {cfg}')   # or f"{slurm.benign} fit ..."

API (job ids are strings: ``"12"``, or ``"11_0"`` for one task of array job 11):

* ``submit(script, args=(), *, cwd=None, env=None, sbatch_options=(), name=None) -> job_id``:
  ``script`` is a path (a ``Path``, or a one-line string naming an existing file) or the text of
  a batch script (a ``#!/bin/bash`` line is added when missing); ``args`` go to the script; ``env`` is added to this process's environment for
  the job. The job's output goes to ``<tmp>/slurm-out/<name>-%j.out`` (one file per array task)
  unless ``sbatch_options`` sets ``--output``. The job's environment also has ``BENIGN`` (the
  venv's ``benign`` command, which ``scripts/slurm/fit.sbatch`` uses) and ``PYTHON``.
* ``state(job_id) -> str | None``: PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, ...; for
  an array job's id, one state for all tasks (see ``combine``); None once SLURM forgot the job
  (``MinJobAge`` = 30 s after it ended). ``states(job_id)`` gives each task's.
* ``wait(job_id, states=("COMPLETED",), timeout=None) -> state``: polls until the job (every
  task of an array) is in one of ``states``; raises ``SlurmJobError`` with the job's output when
  it ends in another state, is forgotten, or ``timeout`` (default ``slurm.timeout``) passes.
* ``wait_for_file(job_id, path, text=None, timeout=None) -> str``: until ``path`` exists (and
  contains ``text``); raises like ``wait`` when the job ends first. Returns the file's text.
* ``signal(job_id, "USR1", batch=False, full=False)``: ``scancel --signal=USR1``. Note that
  plain scancel signals only the job's steps (srun tasks), never the batch script itself: a
  batch script that traps the signal needs ``batch=True`` (``--batch``) or ``full=True``.
* ``requeue(job_id)``: ``scontrol requeue``; the job restarts (``SLURM_RESTART_COUNT`` = 1, ...)
  after about 15 s on this cluster (``AuthInfo=cred_expire=10`` plus the kill).
* ``cancel(job_id)``; ``info(job_id) -> dict`` (``scontrol show job``'s fields);
  ``output(job_id) -> str`` (the job's output files, concatenated).
"""

from __future__ import annotations

import glob
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# States after which a job (or array task) never runs again by itself.
TERMINAL = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
     "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT", "REVOKED"}
)  # fmt: skip


class SlurmJobError(AssertionError):
    """A job ended in an unexpected state or did not get there in time (message: its output)."""


def _benign_command() -> str:
    """The venv's ``benign`` next to this interpreter, else the checkout's ``.venv/bin/benign``."""
    here = Path(sys.executable).with_name("benign")
    return str(here if here.exists() else REPO_ROOT / ".venv" / "bin" / "benign")


def _is_file(text: str) -> bool:
    """Whether a one-line ``script`` argument names an existing file (else it is script text)."""
    if "\n" in text or text.startswith("#!"):
        return False
    try:
        return Path(text).is_file()
    except OSError:  # e.g. a name too long for a path
        return False


def combine(states: Iterable[str]) -> str:
    """One state for an array job: a task not yet finished wins, then a failed one."""
    states = list(states)
    if not states:
        raise ValueError("no states")
    if len(set(states)) == 1:
        return states[0]
    unfinished = [s for s in states if s not in TERMINAL]
    if unfinished:
        return "RUNNING" if "RUNNING" in unfinished else unfinished[0]
    failed = [s for s in states if s != "COMPLETED"]
    return failed[0]


class SlurmCluster:
    """Submit jobs to the local cluster and follow them; see the module docstring."""

    def __init__(self, workdir: Path, timeout: float = 60.0, poll: float = 0.2):
        self.workdir = Path(workdir)
        self.outdir = self.workdir / "slurm-out"
        self.timeout = timeout
        self.poll = poll
        self.benign = _benign_command()
        self.python = sys.executable
        self.submitted: list[str] = []
        self._outputs: dict[str, str] = {}  # job id -> output glob
        self._count = 0

    # -- commands ---------------------------------------------------------------------------
    @staticmethod
    def _run(cmd: Sequence[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, **kwargs)
        if check and out.returncode != 0:
            raise RuntimeError(
                f"`{shlex.join(cmd)}` failed ({out.returncode}): {out.stderr.strip()}"
            )
        return out

    def submit(
        self,
        script: str | os.PathLike,
        args: Sequence[str] = (),
        *,
        cwd: str | os.PathLike | None = None,
        env: Mapping[str, str] | None = None,
        sbatch_options: Sequence[str] = (),
        name: str | None = None,
    ) -> str:
        """``sbatch --parsable`` a script (its text or a path); returns the job id."""
        self._count += 1
        name = name or f"job{self._count}"
        cwd = Path(cwd) if cwd is not None else self.workdir
        self.outdir.mkdir(parents=True, exist_ok=True)
        if isinstance(script, os.PathLike) or _is_file(script):
            path = Path(script)
        else:
            text = script if script.startswith("#!") else "#!/bin/bash\n" + script
            path = self.outdir / f"{name}.sh"
            path.write_text(text if text.endswith("\n") else text + "\n")
        options = list(sbatch_options)
        output = None
        if not any(o in ("-o", "--output") or o.startswith(("-o", "--output=")) for o in options):
            output = str(self.outdir / f"{name}-%j.out")
            options.append(f"--output={output}")
        job_env = dict(os.environ, BENIGN=self.benign, PYTHON=self.python, **(env or {}))
        cmd = ["sbatch", "--parsable", "--export=ALL", f"--job-name={name}", f"--chdir={cwd}",
               *options, str(path), *map(str, args)]  # fmt: skip
        out = self._run(cmd, env=job_env, cwd=cwd)
        job_id = out.stdout.strip().split(";")[0]  # "<id>[;<cluster>]"
        self.submitted.append(job_id)
        if output is not None:
            self._outputs[job_id] = output.replace("%j", "*")
        return job_id

    def signal(self, job_id: str, sig: str = "USR1", *, batch: bool = False, full: bool = False):
        """``scancel --signal=SIG``: to the job's steps; ``batch``: to the batch script too."""
        cmd = ["scancel", f"--signal={sig}"]
        if batch:
            cmd.append("--batch")
        if full:
            cmd.append("--full")
        self._run([*cmd, job_id])

    def requeue(self, job_id: str) -> None:
        """``scontrol requeue``: the job ends now and runs again (``SLURM_RESTART_COUNT`` += 1)."""
        self._run(["scontrol", "requeue", job_id])

    def cancel(self, job_id: str) -> None:
        self._run(["scancel", job_id])

    # -- queries ----------------------------------------------------------------------------
    def states(self, job_id: str) -> dict[str, str]:
        """Each task's state (``{"12": "RUNNING"}``; ``{"11_0": ..., "11_1": ...}`` for arrays);
        empty once SLURM forgot the job."""
        out = self._run(["squeue", "--noheader", "--states=all", f"--jobs={job_id}",
                         "--format=%i|%T"], check=False)  # fmt: skip
        if out.returncode != 0:
            if "Invalid job id" in out.stderr:
                return {}
            raise RuntimeError(f"squeue failed for job {job_id}: {out.stderr.strip()}")
        rows = (line.split("|") for line in out.stdout.splitlines() if "|" in line)
        return {task.strip(): state.strip() for task, state in rows}

    def state(self, job_id: str) -> str | None:
        """The job's state (one for all tasks of an array: see ``combine``), None if forgotten."""
        states = self.states(job_id)
        return combine(states.values()) if states else None

    def info(self, job_id: str) -> dict[str, str]:
        """``scontrol show job --oneliner``'s ``Key=Value`` fields (first task of an array)."""
        out = self._run(["scontrol", "show", "job", "--oneliner", job_id])
        line = out.stdout.splitlines()[0] if out.stdout.strip() else ""
        return dict(token.split("=", 1) for token in line.split() if "=" in token)

    def output(self, job_id: str) -> str:
        """The job's output (every array task's file, in name order); "" when there is none."""
        pattern = self._outputs.get(job_id.split("_")[0])
        paths = sorted(glob.glob(pattern)) if pattern else []
        if not paths:
            try:
                stdout = self.info(job_id).get("StdOut", "")
            except RuntimeError:
                stdout = ""
            paths = [stdout] if stdout and os.path.isfile(stdout) else []
        return "\n".join(f"--- {p}\n{Path(p).read_text(errors='replace')}" for p in paths)

    # -- waiting ----------------------------------------------------------------------------
    def _fail(self, job_id: str, why: str) -> SlurmJobError:
        return SlurmJobError(f"job {job_id} {why}; its output:\n{self.output(job_id) or '(none)'}")

    def wait(
        self, job_id: str, states: Sequence[str] = ("COMPLETED",), timeout: float | None = None
    ) -> str:
        """Until the job (each array task) is in one of ``states``; returns the state reached."""
        wanted = {states} if isinstance(states, str) else set(states)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        seen: dict[str, str] = {}
        while True:
            now = self.states(job_id)
            if now:
                seen = now
                # A pending array's placeholder ("11_[0-1]") stands for tasks not yet started.
                if all(s in wanted for s in now.values()) and not any("[" in t for t in now):
                    return combine(now.values())
                ended = {t: s for t, s in now.items() if s in TERMINAL and s not in wanted}
                if ended:
                    raise self._fail(job_id, f"ended {ended}, not in {sorted(wanted)}")
            elif seen:
                raise self._fail(job_id, f"was forgotten by SLURM (last seen {seen})")
            else:
                raise self._fail(job_id, "is unknown to SLURM")
            if time.monotonic() > deadline:
                raise self._fail(job_id, f"still {now} after {timeout or self.timeout:g} s")
            time.sleep(self.poll)

    def wait_for_file(
        self,
        job_id: str,
        path: str | os.PathLike,
        text: str | None = None,
        timeout: float | None = None,
    ) -> str:
        """Until ``path`` exists (and holds ``text``) while the job runs; returns its text."""
        path = Path(path)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if path.exists():
                content = path.read_text(errors="replace")
                if text is None or text in content:
                    return content
            state = self.state(job_id)
            if state is None or state in TERMINAL:
                # The job may have written the file just before it ended.
                if path.exists() and (text is None or text in path.read_text(errors="replace")):
                    return path.read_text(errors="replace")
                raise self._fail(job_id, f"ended ({state}) before {path} held {text!r}")
            if time.monotonic() > deadline:
                raise self._fail(job_id, f"still {state} and no {text!r} in {path} after timeout")
            time.sleep(self.poll)

    def cleanup(self) -> None:
        """Cancel the jobs this helper submitted that have not finished."""
        for job_id in self.submitted:
            try:
                state = self.state(job_id)
                if state is not None and state not in TERMINAL:
                    self.cancel(job_id)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass


@pytest.fixture
def slurm(tmp_path) -> SlurmCluster:
    """A ``SlurmCluster`` for this test (jobs in ``tmp_path``); cancels its leftover jobs."""
    cluster = SlurmCluster(tmp_path)
    yield cluster
    cluster.cleanup()
