"""The sbatch template itself: valid bash whose directives ask for what benign relies on
(the behaviour under a real SLURM is tested in test_fit_slurm.py)."""

import os
import re
import subprocess

TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "slurm", "fit.sbatch")


def test_template_is_valid_bash():
    assert subprocess.run(["bash", "-n", TEMPLATE]).returncode == 0


def test_template_asks_for_the_warning_signal_and_requeue():
    text = open(TEMPLATE).read()
    flags = dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(\S+))?", text, flags=re.M))
    # SIGUSR1 to the srun tasks (no "B:"), before the limit: benign saves and requeues on it
    assert re.fullmatch(r"(SIG)?USR1@\d+", flags["signal"])
    assert "requeue" in flags and flags["open-mode"] == "append"
    assert "--trainer.accelerator gpu" not in text  # it follows the allocation
