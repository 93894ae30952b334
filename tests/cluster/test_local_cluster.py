"""The local SLURM cluster of ``make slurm`` itself, with real jobs: array tasks, signals to a
batch script, requeue, srun with two tasks and the environment a job sees.

These are what Lightning's SLURM support and ``scripts/slurm/fit.sbatch`` rely on. Each test
is bounded by the helper's timeouts; the file takes about 20 s (a requeued job waits ~10 s
before it runs again) plus 5-35 s for the ``slow`` test of ``--signal=USR1@N`` (slurmctld
checks time limits every 30 s). Skips without a cluster, fails in CI (tests/conftest.py).
"""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.slurm

# Loops in small sleeps so that bash runs a trap within 0.1 s of a signal (a trap waits for
# the foreground command to end); bounded at 60 s in case nothing comes.
IDLE = "for _ in $(seq 600); do sleep 0.1; done\n"


def test_array_tasks_get_their_own_ids(slurm, tmp_path):
    job = slurm.submit(
        'echo "$SLURM_ARRAY_TASK_ID $SLURM_JOB_ID $SLURM_ARRAY_JOB_ID" > "task_$SLURM_ARRAY_TASK_ID"\n',
        sbatch_options=["--array=0-1"],
    )
    assert slurm.wait(job) == "COMPLETED"
    assert sorted(slurm.states(job)) == [f"{job}_0", f"{job}_1"]
    rows = [(tmp_path / f"task_{i}").read_text().split() for i in (0, 1)]
    assert [row[0] for row in rows] == ["0", "1"]
    assert rows[0][1] != rows[1][1]  # each task is a job of its own
    assert {row[2] for row in rows} == {job}  # ... of the array job that sbatch returned
    assert {slurm.state(f"{job}_{i}") for i in (0, 1)} == {"COMPLETED"}


def test_usr1_reaches_a_batch_script_that_traps_it(slurm, tmp_path):
    job = slurm.submit(
        "trap 'echo \"USR1 in $SLURM_JOB_ID\" > marker; exit 0' USR1\ntouch started\n" + IDLE
    )
    slurm.wait_for_file(job, tmp_path / "started")
    slurm.signal(job, "USR1", batch=True)  # plain scancel --signal only reaches job steps
    assert slurm.wait(job, timeout=30) == "COMPLETED"
    assert (tmp_path / "marker").read_text().split() == ["USR1", "in", job]


def test_a_requeued_job_starts_again_with_restart_count_1(slurm, tmp_path):
    script = (
        'echo "start ${SLURM_RESTART_COUNT:-unset} $SLURM_JOB_ID" >> starts\n'
        '[ "${SLURM_RESTART_COUNT:-0}" -ge 1 ] && exit 0\n' + IDLE
    )
    job = slurm.submit(script, sbatch_options=["--requeue", "--open-mode=append"])
    slurm.wait_for_file(job, tmp_path / "starts", text="start unset")
    slurm.requeue(job)
    slurm.wait_for_file(job, tmp_path / "starts", text="start 1", timeout=60)
    assert slurm.wait(job) == "COMPLETED"
    starts = (tmp_path / "starts").read_text().splitlines()
    assert starts == [f"start unset {job}", f"start 1 {job}"]  # same job id, restarted once
    assert slurm.info(job)["Restarts"] == "1"


def test_srun_in_a_batch_job_launches_two_tasks(slurm, tmp_path):
    job = slurm.submit(
        "srun --ntasks 2 bash -c 'echo \"$SLURM_PROCID $SLURM_NTASKS $SLURM_JOB_ID\" > rank_$SLURM_PROCID'\n",
        sbatch_options=["--ntasks=2"],
    )
    assert slurm.wait(job) == "COMPLETED"
    ranks = sorted(p.read_text().split() for p in tmp_path.glob("rank_*"))
    assert ranks == [["0", "2", job], ["1", "2", job]]


def test_a_job_sees_the_test_environment_and_the_venv_benign(slurm, tmp_path):
    job = slurm.submit(
        'test -x "$BENIGN" && echo "$BENIGN_TEST_VALUE $BENIGN $PWD" > env.txt\n',
        env={"BENIGN_TEST_VALUE": "passed-through"},
    )
    assert slurm.wait(job) == "COMPLETED"
    value, benign, cwd = (tmp_path / "env.txt").read_text().split()
    assert value == "passed-through"
    assert benign == slurm.benign and os.path.isabs(benign)
    assert cwd == str(tmp_path)


@pytest.mark.slow
def test_signal_before_the_time_limit_reaches_the_srun_tasks(slurm, tmp_path):
    """``#SBATCH --signal=USR1@N`` as in fit.sbatch (no ``B:``): the srun tasks get USR1 before
    the time limit. slurmctld checks time limits every 30 s, so it comes at the next check."""
    step = tmp_path / "step.sh"
    step.write_text("trap 'echo \"USR1 in task $SLURM_PROCID\" > marker; exit 0' USR1\n" + IDLE)
    job = slurm.submit(
        f"srun --ntasks 1 bash {step}\n", sbatch_options=["--time=1", "--signal=USR1@55"]
    )
    slurm.wait_for_file(job, tmp_path / "marker", timeout=75)
    assert (tmp_path / "marker").read_text().split() == ["USR1", "in", "task", "0"]
    assert slurm.wait(job, timeout=30) == "COMPLETED"  # the task exited 0, before the limit
