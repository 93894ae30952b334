"""Every shipped config parses, and each dataset/method config trains one step."""

import glob
import os

import pytest
import yaml

from tests.cli.helpers import run_benign
from tests.data.conftest import cifar10_dir, cifar10_files, cifar100_dir, mnist_dir, skip_cifar_md5  # noqa: F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIT_CONFIGS = sorted(
    os.path.relpath(path, REPO)
    for path in glob.glob(os.path.join(REPO, "configs", "*", "*.yaml"))
    if os.sep + "experiments" + os.sep not in path and os.sep + "trainer" + os.sep not in path
)
ONE_STEP = [
    "--trainer.fast_dev_run", "true", "--test_after_fit", "false", "--wandb.mode", "disabled",
    "--trainer.accelerator", "cpu", "--trainer.devices", "1",
]  # fmt: skip


@pytest.mark.parametrize("config", FIT_CONFIGS)
def test_config_parses_and_names_real_classes(config, monkeypatch, capsys):
    assert (
        run_benign(["fit", "--config", os.path.join(REPO, config), "--print_config"], monkeypatch)
        == 0
    )
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["class_path"].startswith("benign.methods.")
    assert printed["data"]["class_path"].startswith("benign.data.")
    dataset, method = config.split(os.sep)[1:]
    stem = method.removesuffix(".yaml").split("_")[0]  # at_fast.yaml is adversarial training too
    expected = {"erm": "ERM", "at": "AdversarialTraining", "trades": "TRADES"}[stem]
    assert printed["model"]["class_path"].endswith(expected)


@pytest.mark.parametrize("method", ["erm", "at", "trades"])
def test_digits_configs_train_one_step(method, monkeypatch):
    assert (
        run_benign(
            [
                "fit",
                "--config",
                os.path.join(REPO, "configs", "digits", f"{method}.yaml"),
                *ONE_STEP,
            ],
            monkeypatch,
        )
        == 0
    )


SMALL = ["--data.batch_size", "8", "--data.num_workers", "0"]


@pytest.mark.parametrize("method", ["erm", "at", "trades"])
def test_mnist_configs_train_one_step(method, request, monkeypatch):
    data_dir, _ = request.getfixturevalue("mnist_dir")
    args = [
        "fit",
        "--config",
        os.path.join(REPO, "configs", "mnist", f"{method}.yaml"),
        "--data.data_dir",
        str(data_dir),
    ]
    assert run_benign([*args, *SMALL, *ONE_STEP], monkeypatch) == 0


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
@pytest.mark.parametrize("method", ["erm", "at", "trades"])
def test_cifar_configs_train_one_step(dataset, method, request, monkeypatch):
    data_dir, _ = request.getfixturevalue(f"{dataset}_dir")
    args = [
        "fit", "--config", os.path.join(REPO, "configs", dataset, f"{method}.yaml"),
        "--data.data_dir", str(data_dir), "--model.backbone.width", "8",
    ]  # fmt: skip
    assert run_benign([*args, *SMALL, *ONE_STEP], monkeypatch) == 0
