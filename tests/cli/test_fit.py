"""`benign fit` / `benign test` end to end on digits: the run directory and what is in it."""

import os

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tests.cli.helpers import run_benign

FAST = [
    "--trainer.max_epochs",
    "2",
    "--trainer.enable_progress_bar",
    "false",
    "--wandb.mode",
    "disabled",
]


@pytest.fixture
def erm_config(repo_root):
    return os.path.join(repo_root, "configs", "digits", "erm.yaml")


def test_fit_writes_a_complete_run_directory(erm_config, monkeypatch, capfd):
    """Fit then test in one process with the defaults users have (the progress bar on)."""
    args = ["fit", "--config", erm_config, "--data.noise_rate", "0.2", *FAST[:2], *FAST[4:]]
    assert run_benign(args, monkeypatch) == 0
    bar = capfd.readouterr()
    assert "Epoch 1: 100%" in bar.out + bar.err  # the progress bar ran to the end of the fit
    assert "Testing DataLoader 0: 100%" in bar.out + bar.err  # and of the test after it
    run = os.path.join("runs", "digits-erm-noise0.2-seed0")
    assert sorted(os.listdir("runs")) == ["digits-erm-noise0.2-seed0"]
    for item in ("config.yaml", "metrics.csv", "noise.npz", "checkpoints/last.ckpt"):
        assert os.path.exists(os.path.join(run, item)), item

    manifest = np.load(os.path.join(run, "noise.npz"))
    observed, true = manifest["observed_labels"], manifest["true_labels"]
    assert abs((observed != true).mean() - 0.2) <= 0.005
    assert set(manifest["noisy_indices"]) == set(np.flatnonzero(observed != true))

    config = yaml.safe_load(open(os.path.join(run, "config.yaml")))
    assert config["data"]["init_args"]["noise_rate"] == 0.2
    assert "num_classes" not in config["model"]["init_args"]  # linked from data, not a setting
    hparams = torch.load(os.path.join(run, "checkpoints", "last.ckpt"), weights_only=True)[
        "hyper_parameters"
    ]
    assert hparams["num_classes"] == 10 and hparams["_class_path"] == "benign.methods.ERM"

    metrics = pd.read_csv(os.path.join(run, "metrics.csv"))
    for key in (
        "train/acc",
        "train/acc_noisy",
        "train/true_acc_noisy",
        "train/acc_clean",
        "val/acc",
    ):
        assert key in metrics.columns, key
    for key in ("test/acc", "test/robust_acc@0", "test/robust_acc@0.05", "test/robust_acc@0.2"):
        assert metrics[key].notna().sum() == 1, key
    robust = [
        metrics[f"test/robust_acc@{e}"].dropna().item() for e in ("0", "0.02", "0.05", "0.1", "0.2")
    ]
    assert robust == sorted(robust, reverse=True)
    assert robust[0] == pytest.approx(metrics["test/acc"].dropna().item(), abs=1e-6)


def test_a_second_run_never_reuses_the_first_directory(erm_config, monkeypatch):
    args = [
        "fit",
        "--config",
        erm_config,
        "--trainer.max_epochs",
        "1",
        "--test_after_fit",
        "false",
        *FAST[2:],
    ]
    assert run_benign(args, monkeypatch) == 0
    first = os.path.join("runs", "digits-erm-noise0-seed0")
    before = {name: os.path.getmtime(os.path.join(first, name)) for name in os.listdir(first)}
    assert run_benign(args, monkeypatch) == 0
    assert sorted(os.listdir("runs")) == ["digits-erm-noise0-seed0", "digits-erm-noise0-seed0-v1"]
    assert {
        name: os.path.getmtime(os.path.join(first, name)) for name in os.listdir(first)
    } == before


def test_test_subcommand_logs_robust_accuracy_next_to_the_checkpoint(erm_config, monkeypatch):
    assert (
        run_benign(["fit", "--config", erm_config, "--test_after_fit", "false", *FAST], monkeypatch)
        == 0
    )
    run = os.path.join("runs", "digits-erm-noise0-seed0")
    ckpt = os.path.join(run, "checkpoints", "last.ckpt")
    status = run_benign(["test", "--ckpt_path", ckpt, "--wandb.mode", "disabled"], monkeypatch)
    assert status == 0
    metrics = pd.read_csv(os.path.join(run, "test", "metrics.csv"))
    assert {"test/acc", "test/robust_acc@0.1"} <= set(metrics.columns)
    assert (
        0.0 <= metrics["test/robust_acc@0.1"].dropna().item() <= metrics["test/acc"].dropna().item()
    )


def test_print_config_is_reusable(erm_config, monkeypatch, capsys):
    assert (
        run_benign(
            ["fit", "--config", erm_config, "--data.noise_rate", "0.1", "--print_config"],
            monkeypatch,
        )
        == 0
    )
    printed = capsys.readouterr().out
    config = yaml.safe_load(printed)
    assert config["data"]["init_args"]["noise_rate"] == 0.1
    assert config["model"]["class_path"] == "benign.methods.ERM"
    with open("printed.yaml", "w") as f:
        f.write(printed)
    # a short fit from the printed file alone is the run the printed options describe
    short = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2"]
    args = ["fit", "--config", "printed.yaml", *short, "--test_after_fit", "false"]
    assert run_benign(args, monkeypatch) == 0
    assert os.listdir("runs") == ["digits-erm-noise0.1-seed0"]
    saved = yaml.safe_load(open(os.path.join("runs", "digits-erm-noise0.1-seed0", "config.yaml")))
    assert saved["model"] == config["model"]
    # the noise seed left unset in the printed file is recorded as the seed it defaulted to
    assert config["data"]["init_args"]["noise_seed"] is None
    data = {**config["data"]["init_args"], "noise_seed": config["seed_everything"]}
    assert saved["data"] == {**config["data"], "init_args": data}
    assert saved["trainer"] == {**config["trainer"], "max_epochs": 1, "limit_train_batches": 2}


def test_short_names_select_data_and_method(erm_config, monkeypatch, capsys):
    args = [
        "fit",
        "--config",
        erm_config,
        "--data",
        "digits",
        "--model",
        "TRADES",
        "--print_config",
    ]
    assert run_benign(args, monkeypatch) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["data"]["class_path"] == "benign.data.DigitsDataModule"
    assert config["model"]["class_path"] == "benign.methods.TRADES"
    # a backbone by its class name alone
    args = ["fit", "--config", erm_config, "--model.backbone", "DigitsCNN", "--print_config"]
    assert run_benign(args, monkeypatch) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["init_args"]["backbone"]["class_path"] == "benign.models.DigitsCNN"


def test_configs_resolve_omegaconf_interpolation(erm_config, monkeypatch, capsys):
    """The digits configs tie the cosine schedule to the run length with ``${trainer.max_epochs}``;
    a config of one's own can interpolate any other key the same way."""
    assert run_benign(["fit", "--config", erm_config, "--print_config"], monkeypatch) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    scheduler = config["model"]["init_args"]["lr_scheduler"]
    assert scheduler["class_path"] == "torch.optim.lr_scheduler.CosineAnnealingLR"
    assert scheduler["init_args"]["T_max"] == config["trainer"]["max_epochs"] == 60
    # resolved after the command line (omegaconf+): the schedule follows --trainer.max_epochs
    args = ["fit", "--config", erm_config, "--trainer.max_epochs", "2", "--print_config"]
    assert run_benign(args, monkeypatch) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["init_args"]["lr_scheduler"]["init_args"]["T_max"] == 2

    with open("own.yaml", "w") as f:
        f.write(
            "seed_everything: 3\n"
            "trainer: {max_epochs: 7}\n"
            "model:\n"
            "  class_path: benign.methods.ERM\n"
            "  init_args:\n"
            "    backbone: {class_path: benign.models.DigitsCNN}\n"
            "    lr_scheduler:\n"
            "      class_path: torch.optim.lr_scheduler.CosineAnnealingLR\n"
            '      init_args: {T_max: "${trainer.max_epochs}"}\n'
            "data:\n"
            "  class_path: benign.data.DigitsDataModule\n"
            '  init_args: {noise_seed: "${seed_everything}"}\n'
        )
    assert run_benign(["fit", "--config", "own.yaml", "--print_config"], monkeypatch) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["init_args"]["lr_scheduler"]["init_args"]["T_max"] == 7
    assert config["data"]["init_args"]["noise_seed"] == 3
