"""wandb is the default logger: without a login it runs offline, says so in one line, and the
offline run holds the metrics, the config and the run's artefacts."""

import glob
import json
import os

from tests.cli.helpers import run_benign_subprocess
from tests.cli.wandb_records import read_records


def test_no_login_means_an_offline_wandb_run_with_metrics_config_and_artifacts(repo_root, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), NETRC=str(tmp_path / "no-netrc"), PYTHONPATH=repo_root)
    config = os.path.join(repo_root, "configs", "digits", "erm.yaml")
    result = run_benign_subprocess(
        ["fit", "--config", config, "--trainer.max_epochs", "1", "--data.noise_rate", "0.2",
         "--trainer.enable_progress_bar", "false", "--wandb.group", "label-noise"],
        cwd=str(tmp_path),
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    notices = [line for line in result.stderr.splitlines() if "no login found" in line]
    assert len(notices) == 1 and "offline" in notices[0]

    run = tmp_path / "runs" / "digits-erm-noise0.2-seed0"
    files = glob.glob(str(run / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(files) == 1  # one wandb run for the job (fit and its test)
    records = read_records(files[0])
    kinds = [r.WhichOneof("record_type") for r in records]

    runs = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (
        runs[0].display_name == "digits-erm-noise0.2-seed0" and runs[0].run_group == "label-noise"
    )

    logged = {
        item.key or "/".join(item.nested_key)
        for r in records
        if r.WhichOneof("record_type") == "history"
        for item in r.history.item
    }
    assert {"train/acc", "val/acc", "test/acc", "test/robust_acc@0.05", "train/acc_noisy"} <= logged

    config = {
        item.key: item.value_json
        for r in records
        if r.WhichOneof("record_type") == "config"
        for item in r.config.update
    }
    assert {"data", "model", "trainer", "seed_everything"} <= set(config)
    # one copy of the config: the model's hyperparameters are not repeated at the top level
    assert not {"backbone", "num_classes", "optimizer", "attack"} & set(config), sorted(config)
    data, model = json.loads(config["data"]), json.loads(config["model"])
    assert data["init_args"]["noise_rate"] == 0.2 and model["class_path"] == "benign.methods.ERM"

    artifacts = {r.artifact.type for r in records if r.WhichOneof("record_type") == "artifact"}
    assert {"config", "noise-manifest", "model"} <= artifacts, kinds
