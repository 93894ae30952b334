"""Every shipped config parses, each dataset/method config trains one step, and the recipes are
layered: one ``base.yaml`` per dataset holds what the methods share, each method file only what
makes it that method."""

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
    if os.sep + "experiments" + os.sep not in path
    and os.sep + "trainer" + os.sep not in path
    and os.path.basename(path) != "base.yaml"
)
DATASET_DIRS = sorted({os.path.dirname(config) for config in FIT_CONFIGS})
#: The one recipe that is not a layer over its base.yaml (its header says why).
WHOLE_RECIPES = {os.path.join("configs", "cifar10", "at_fast.yaml")}
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


def _document(path: str) -> dict:
    with open(os.path.join(REPO, path)) as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("folder", DATASET_DIRS)
def test_each_dataset_has_one_base_that_every_method_file_loads(folder):
    base = _document(os.path.join(folder, "base.yaml"))
    assert "class_path" not in base["model"], "base.yaml must not name a method"
    assert {"backbone", "optimizer"} <= set(base["model"]["init_args"])
    assert {"trainer", "data", "seed_everything"} <= set(base)
    for config in (c for c in FIT_CONFIGS if os.path.dirname(c) == folder):
        document = _document(config)
        if config in WHOLE_RECIPES:
            assert "config" not in document
            continue
        # The method file names its class and its own arguments, then loads the base last (a
        # class_path after the base would drop the base's model arguments).
        assert list(document) == ["model", "config"], config
        assert document["config"] == "base.yaml"
        assert set(document["model"]) <= {"class_path", "init_args"}
        own = set(document["model"].get("init_args") or {})
        assert own <= {"attack", "beta"}, f"{config} repeats base.yaml's {own - {'attack', 'beta'}}"


def test_a_base_change_reaches_every_method(tmp_path, monkeypatch, capsys):
    """One edit of base.yaml (the optimiser) changes what erm, at and trades run."""
    import shutil

    folder = tmp_path / "digits"
    shutil.copytree(os.path.join(REPO, "configs", "digits"), folder)
    base = (folder / "base.yaml").read_text().replace("lr: 0.05", "lr: 0.0123")
    (folder / "base.yaml").write_text(base)
    for method, expected in [("erm", "ERM"), ("at", "AdversarialTraining"), ("trades", "TRADES")]:
        args = ["fit", "--config", str(folder / f"{method}.yaml"), "--print_config"]
        assert run_benign(args, monkeypatch) == 0
        printed = yaml.safe_load(capsys.readouterr().out)
        model = printed["model"]
        assert model["class_path"] == f"benign.methods.{expected}"
        assert model["init_args"]["optimizer"]["init_args"]["lr"] == 0.0123
        assert model["init_args"]["backbone"]["class_path"] == "benign.models.DigitsCNN"
        assert printed["data"]["class_path"] == "benign.data.DigitsDataModule"
        assert [cb["class_path"].rsplit(".", 1)[1] for cb in printed["trainer"]["callbacks"]] == [
            "Memorization",
            "RobustnessEval",
        ]


def test_a_base_alone_is_refused_with_one_line(monkeypatch, capsys):
    config = os.path.join(REPO, "configs", "digits", "base.yaml")
    assert run_benign(["fit", "--config", config, *ONE_STEP], monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no training method: set --model erm|at|trades" in err[0]
