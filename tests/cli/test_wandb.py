"""wandb is the default logger: without a login it runs offline and says so in one line."""

import glob
import os

from tests.cli.helpers import run_benign_subprocess


def test_no_login_means_an_offline_wandb_run_in_the_run_directory(repo_root, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), NETRC=str(tmp_path / "no-netrc"), PYTHONPATH=repo_root)
    config = os.path.join(repo_root, "configs", "digits", "erm.yaml")
    result = run_benign_subprocess(
        ["fit", "--config", config, "--trainer.max_epochs", "1", "--test_after_fit", "false",
         "--trainer.enable_progress_bar", "false"],
        cwd=str(tmp_path),
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    notices = [line for line in result.stderr.splitlines() if "no login found" in line]
    assert len(notices) == 1 and "offline" in notices[0]
    run = tmp_path / "runs" / "digits-erm-noise0-seed0"
    offline_runs = glob.glob(str(run / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(offline_runs) == 1 and os.path.getsize(offline_runs[0]) > 0
