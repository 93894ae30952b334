"""Loggers: the CSV log survives a resume; wandb's mode follows the login and WANDB_MODE."""

import pandas as pd
import pytest

from benign.errors import ConfigError
from benign.loggers import RunCSVLogger, resolve_wandb_mode, wandb_logged_in


def test_a_resumed_run_appends_to_its_metrics_csv(tmp_path):
    first = RunCSVLogger(save_dir=str(tmp_path), name="run", version="")
    first.log_metrics({"train/acc": 0.5, "val/acc": 0.4}, step=0)
    first.save()
    resumed = RunCSVLogger(save_dir=str(tmp_path), name="run", version="")
    resumed.log_metrics({"train/acc": 0.9, "test/acc": 0.8}, step=10)
    resumed.save()
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["train/acc"].tolist() == [0.5, 0.9]
    assert metrics["val/acc"].iloc[0] == 0.4 and pd.isna(metrics["val/acc"].iloc[1])
    assert metrics["test/acc"].iloc[1] == 0.8


def test_wandb_mode_auto_follows_the_login(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    netrc = tmp_path / "netrc"
    monkeypatch.setenv("NETRC", str(netrc))
    assert not wandb_logged_in() and resolve_wandb_mode("auto") == "offline"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    netrc.chmod(0o600)
    assert wandb_logged_in() and resolve_wandb_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode("online") == "disabled"


def test_unknown_wandb_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="wandb mode"):
        resolve_wandb_mode("sometimes")
