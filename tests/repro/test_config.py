"""Experiment settings (configs/experiments/*.yaml), the registry and `benign repro` user errors."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from benign.errors import ConfigError
from benign.repro.cli import parse_shard, shard_cells
from benign.repro.config import Settings, apply_overrides, experiment_settings
from benign.repro.fit_cells import as_args
from benign.repro.registry import EXPERIMENTS, get_experiment
from tests.cli.helpers import run_benign

OURS = ("label-noise", "memorization", "fine-vs-coarse", "mislabelled")


def test_registry_has_the_six_interface_names():
    # INTERFACE.md's six, in its order, then the newer experiments (E7 boundary, E3 factors)
    assert list(EXPERIMENTS) == [
        *OURS,
        "theorem1",
        "representation",
        "boundary",
        "fine-vs-coarse-factors",
    ]
    for name in OURS:
        assert get_experiment(name).name == name
    with pytest.raises(ConfigError, match="unknown experiment 'nope': use one of label-noise, "):
        get_experiment("nope")


@pytest.mark.parametrize("name", OURS)
def test_every_experiment_has_quick_digits_settings_and_full_scale_ones(name, repo_root):
    document = yaml.safe_load(
        open(os.path.join(repo_root, "configs", "experiments", f"{name}.yaml"))
    )
    assert {"digits", "mnist", "cifar10", "cifar100"} <= set(document)
    quick = experiment_settings(name, Settings(quick=True))
    for path in quick["configs"].values():
        assert os.path.isfile(os.path.join(repo_root, "configs", path)), path
    experiment = get_experiment(name)
    cells = experiment.cells(Settings(quick=True, seeds=2, out="o"))
    assert len({c.name for c in cells}) == len(cells)
    assert {c.columns["seed"] for c in cells} == {0, 1}
    for cell in cells:
        if cell.args:  # a `benign fit` run: seeds and the edited callbacks are passed through
            args = list(cell.args)
            seed = str(cell.columns["seed"])
            assert args[args.index("--seed_everything") + 1] == seed
            assert args[args.index("--data.noise_seed") + 1] == seed
            callbacks = json.loads(args[args.index("--trainer.callbacks") + 1])
            assert any(cb["class_path"].endswith("RobustnessEval") for cb in callbacks)
    full = experiment_settings(name, Settings(dataset="cifar10"))
    assert all(path.startswith("cifar10/") for path in full["configs"].values())


def test_label_noise_quick_grid():
    cells = get_experiment("label-noise").cells(Settings(quick=True, seeds=1, out="o"))
    grid = sorted((c.columns["noise_type"], c.columns["noise_rate"]) for c in cells)
    kinds = ("asymmetric", "class_subset", "coverage", "instance")
    compared = [(kind, rate) for kind in kinds for rate in (0.1, 0.2)]
    assert grid == [*compared, *(("symmetric", rate) for rate in (0.0, 0.1, 0.2, 0.4))]
    args = list(cells[0].args)
    assert args[args.index("--trainer.max_epochs") + 1] == "60"


def test_memorization_grid_sets_the_training_eps():
    cells = get_experiment("memorization").cells(Settings(quick=True, seeds=1, out="o"))
    assert sorted((c.columns["method"], c.columns["train_eps"]) for c in cells) == [
        ("AT", 0.05),
        ("AT", 0.1),
        ("AT", 0.2),
        ("ERM", 0.0),
        ("TRADES", 0.05),
        ("TRADES", 0.1),
        ("TRADES", 0.2),
    ]
    at = next(c for c in cells if c.columns["method"] == "AT" and c.columns["train_eps"] == 0.1)
    args = list(at.args)
    assert args[args.index("--model.init_args.attack.init_args.eps") + 1] == "0.1"
    assert all(c.columns["noise_rate"] == 0.2 for c in cells)


def test_overrides_and_their_errors():
    config = {"noise_rates": [0.0], "args": {"trainer": {"max_epochs": 60}}}
    edited = apply_overrides(
        config, ["noise_rates=[0, 0.4]", "args.trainer.max_epochs=2", "eval.max_samples=8"]
    )
    assert edited == {
        "noise_rates": [0, 0.4],
        "args": {"trainer": {"max_epochs": 2}},
        "eval": {"max_samples": 8},
    }
    assert config["args"]["trainer"]["max_epochs"] == 60  # the input is not modified
    assert as_args(edited["args"]) == ["--trainer.max_epochs", "2"]
    with pytest.raises(ConfigError, match="is not key=value"):
        apply_overrides(config, ["noise_rates"])


def test_unknown_dataset_or_mode_names_the_valid_ones():
    with pytest.raises(
        ConfigError,
        match="no settings for dataset 'svhn': use --dataset with one of digits, mnist, cifar10, cifar100",
    ):
        experiment_settings("label-noise", Settings(dataset="svhn"))
    with pytest.raises(ConfigError, match="no quick settings for mnist .*use --dataset digits"):
        experiment_settings("label-noise", Settings(dataset="mnist", quick=True))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["repro", "nope"],
            "unknown experiment 'nope': use one of label-noise, memorization, fine-vs-coarse, mislabelled, theorem1, representation",  # and any newer ones
        ),
        (
            ["repro", "label-noise", "--dataset", "svhn"],
            "label-noise does not run on dataset 'svhn': use one of digits, mnist, cifar10, cifar100",
        ),
        (["repro", "label-noise", "--seeds", "0"], "--seeds must be >= 1, got 0"),
        (["repro", "label-noise", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_user_errors_are_one_line(argv, message, capsys, monkeypatch):
    assert run_benign(argv, monkeypatch) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not os.path.exists("repro_out")


def test_missing_real_data_fails_with_the_data_modules_line(capsys, monkeypatch):
    argv = [
        "repro",
        "label-noise",
        "--dataset",
        "mnist",
        "--no-progress",
        "--set",
        "noise_rates=[0.0]",
    ]
    assert run_benign(argv, monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.startswith("benign: error: ") and err.count("\n") == 1
    assert "MNIST" in err and "data" in err
    assert os.listdir("repro_out/label-noise/cells") == []


def test_shards_partition_the_grid_and_cells_use_one_device():
    settings = Settings(quick=True, seeds=2, out="o")
    names = [c.name for c in get_experiment("label-noise").cells(settings)]
    cells = get_experiment("label-noise").cells(settings)
    parts = [[c.name for c in shard_cells(cells, *parse_shard(f"{i}/3"))] for i in range(3)]
    assert sorted(sum(parts, [])) == sorted(names) and parts[1] == names[1::3]
    cell = get_experiment("label-noise").cells(settings)[0]
    assert cell.args[cell.args.index("--trainer.devices") + 1] == "1"
    for bad in ("3/3", "x", "1/0", "-1/2"):
        with pytest.raises(ConfigError, match="must be I/N with 0 <= I < N"):
            parse_shard(bad)


def test_base_fit_configs_are_read_with_their_interpolation_resolved(tmp_path):
    """The grids read a cell's base config as `benign fit` does: ``${...}`` resolved in the file."""
    from benign.repro.config import load_fit_config
    from benign.repro.fit_cells import base_config

    config = base_config("digits/at.yaml")
    assert config["model"]["init_args"]["lr_scheduler"]["init_args"]["T_max"] == 60
    assert config["trainer"]["max_epochs"] == 60
    broken = tmp_path / "broken.yaml"
    broken.write_text('trainer: {max_epochs: "${trainer.epochs}"}\n')
    with pytest.raises(ConfigError, match="broken.yaml") as err:
        load_fit_config(str(broken))
    assert "\n" not in str(err.value)
