"""E3 across recipes: the grid's cells, its tables on planted results, the extra-map scorer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benign.repro.config import Settings
from benign.repro.experiments.fine_vs_coarse_report import (
    ALL_MAPS,
    accuracy_table,
    effect_table,
    gap_table,
    sign_lines,
)
from benign.repro.factor_design import recipes
from benign.repro.registry import get_experiment
from benign.repro.results import COLUMNS, make_row
from benign.repro.tables import Column

FACTORS = {"factors": {"width": {"w8": {}, "w32": {"x": 1}}}}
GRID = recipes(FACTORS)
BASE, WIDE = (r.tag("ERM") for r in GRID)
#: Planted coarse robust accuracy at eps 0.03 (coarse-label model, fine-label model) per
#: recipe and map; the seeds add the same offset to both, which the paired gap removes.
PLANTED = {
    (BASE, "semantic"): (0.60, 0.70),  # gap +0.10
    (BASE, "halves"): (0.60, 0.50),  # gap -0.10
    (WIDE, "semantic"): (0.50, 0.80),  # gap +0.30: +0.20 from the base
    (WIDE, "halves"): (0.70, 0.60),  # gap -0.10: no change
}
SEED_NOISE = [0.0, 0.004, -0.003, 0.002]  # small, different per seed, on the fine model only


def planted_results() -> pd.DataFrame:
    rows = []
    for (tag, name), (coarse, fine) in PLANTED.items():
        for seed, noise in enumerate(SEED_NOISE):
            for level, value in (
                ("coarse", coarse + seed / 100),
                ("fine", fine + seed / 100 + noise),
            ):
                columns = {"experiment": "fine-vs-coarse-factors", "dataset": "fashion_mnist",
                           "method": tag, "backbone": "DigitsCNN", "label_level": level,
                           "coarse_map": name, "seed": seed}  # fmt: skip
                rows.append(make_row(columns, "coarse_robust_acc", value, eps=0.03))
                rows.append(make_row(columns, "coarse_acc", 0.9))
                if level == "coarse" or name == "semantic":  # one fine run: under its first map
                    fit = 0.99 if level == "fine" else 0.95 if name == "halves" else 1.0
                    rows.append(make_row(columns, "train_acc", fit))
    return pd.DataFrame(rows, columns=COLUMNS)


def test_the_gap_per_recipe_is_fine_minus_coarse_paired_by_seed():
    table = gap_table(planted_results(), GRID).set_index(["recipe", "coarse map"])
    column = "coarse robust acc @ ε=0.03, fine − coarse"
    mean_of = lambda key: float(table.loc[key, column].split(" ± ")[0])  # noqa: E731
    assert mean_of(("base (width=w8)", "semantic")) == pytest.approx(
        0.10 + np.mean(SEED_NOISE), abs=1e-3
    )
    assert mean_of(("base (width=w8)", "halves")) == pytest.approx(
        -0.10 + np.mean(SEED_NOISE), abs=1e-3
    )
    assert mean_of(("width=w32", ALL_MAPS)) == pytest.approx(0.10 + np.mean(SEED_NOISE), abs=1e-3)
    assert (
        table.loc[("base (width=w8)", "semantic"), "coarse clean acc, fine − coarse"]
        == "0.000 ± 0.000"
    )
    assert (table["seeds"] == 4).all()


def test_the_accuracy_table_keeps_the_fine_runs_fit_for_every_map():
    table = accuracy_table(planted_results(), GRID, 0.03).set_index(
        ["recipe", "coarse map", "trained on"]
    )
    assert len(table) == 2 * 2 * 2
    wide_halves = table.loc[("width=w32", "halves")]
    assert wide_halves.loc["coarse", "coarse robust acc @ ε=0.03"].startswith("0.715 ± ")
    assert wide_halves.loc["fine", "train acc (own labels)"] == "0.990 ± 0.000"
    assert wide_halves.loc["coarse", "train acc (own labels)"] == "0.950 ± 0.000"


def test_each_factor_effect_is_the_change_of_the_gap_from_the_base():
    headline = Column("", "coarse_robust_acc", 0.03)
    effects = effect_table(planted_results(), GRID, headline).set_index("coarse map")
    assert (effects["change from the base recipe"] == "width: w8 → w32").all()
    # the seed noise sits on the fine model of every recipe alike: it cancels exactly
    change = effects["change of the gap"].str.split(" ± ", expand=True).astype(float)
    assert change.loc["semantic"].tolist() == pytest.approx([0.2, 0.0], abs=1e-9)
    assert change.loc["halves"].tolist() == pytest.approx([0.0, 0.0], abs=1e-9)
    assert change.loc[ALL_MAPS].tolist() == pytest.approx([0.1, 0.0], abs=1e-9)
    assert effects.loc["semantic", "interval"] == "above 0"
    lines = sign_lines(planted_results(), GRID, headline).splitlines()
    assert lines[0] == "- `semantic`: **above 0**: base (width=w8) | width=w32"
    assert lines[1] == "- `halves`: **below 0**: base (width=w8) | width=w32"


def test_the_summary_and_figure_of_planted_results(tmp_path):
    experiment = get_experiment("fine-vs-coarse-factors")
    settings = Settings(dataset="fashion_mnist", quick=True, seeds=4, out=str(tmp_path),
                        overrides=("factors={width: {w8: {}, w32: {x: 1}}}", "base={}"))  # fmt: skip
    text = experiment.summary(planted_results(), settings)
    assert "| base (width=w8) | semantic | 0.000 ± 0.000 |" in text
    assert "width: w8 → w32" in text and "## Sign of the gap at ε=0.03" in text
    figure = experiment.figure(planted_results(), settings)
    panels = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == [
        "coarse map: semantic", "coarse map: halves", f"coarse map: {ALL_MAPS}"
    ]  # fmt: skip
    # the base recipe's mean on the semantic panel sits at its planted gap
    means = [bar.lines[0].get_xdata()[0] for bar in panels[0].containers]
    assert sorted(means) == pytest.approx([0.10, 0.30], abs=0.01)


def test_the_fashion_mnist_grid_trains_one_fine_model_per_recipe_and_seed():
    experiment = get_experiment("fine-vs-coarse-factors")
    cells = experiment.cells(Settings(dataset="fashion_mnist", quick=True, seeds=2, out="o"))
    grid = recipes(experiment.config(Settings(dataset="fashion_mnist", quick=True)))
    assert len(grid) == 5  # one at a time: base + 2 widths + Adam + the larger size
    assert len(cells) == 2 * 5 * (3 + 1)  # per seed and recipe: 3 coarse-label cells, 1 fine
    fine = [c for c in cells if c.columns["label_level"] == "fine"]
    assert all(c.extra["also_maps"] == [("apparel_vs_rest",) * 2, ("halves",) * 2] for c in fine)
    assert {c.columns["method"] for c in cells} == {r.tag("ERM") for r in grid}
    assert len({c.name for c in cells}) == len(cells)
    # the stronger-attack audit runs on seed 0 only (audit_seeds: 1)
    audited = {c.columns["seed"]: '"sanity_samples": 0' not in " ".join(c.args) for c in cells}
    assert audited == {0: True, 1: False}
    madry = next(c for c in cells if c.name.startswith("madry"))
    assert madry.columns["backbone"] == "MadryCNN"
    assert "--model.init_args.backbone.init_args.width" not in madry.args


@pytest.mark.parametrize("coarse_map", [[0] * 5 + [1] * 5, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]])
def test_another_maps_scores_equal_the_callbacks_own_on_that_map(coarse_map):
    """:func:`coarse_scores` (the fine model's other maps) gives, on any map, what
    RobustnessEval gives when that map is the run's: same points, attacks and random starts."""
    import torch
    from torch import nn

    from benign.attacks import PGD
    from benign.callbacks import RobustnessEval
    from benign.callbacks.fault_tolerance import epoch_seed
    from benign.callbacks.robustness_eval import EVAL_STREAM
    from benign.data.datasets import IndexedTensorDataset
    from benign.data.loaders import eval_loader
    from benign.repro.coarse_scores import coarse_scores

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10))
    with torch.no_grad():
        model[1].weight.mul_(10.0)  # an input-sensitive model: the attack breaks points
    dataset = IndexedTensorDataset(torch.rand(90, 1, 4, 4), torch.randint(0, 10, (90,)))
    # random starts: a different draw per point, so the comparison sees the seeding
    attack = PGD(0.3, steps=2, random_start=True)
    callback = RobustnessEval(attack=attack, eps=[0.0, 0.1, 0.3], score_coarse=True,
                              sanity=False, max_samples=64)  # fmt: skip
    mapping = torch.tensor(coarse_map)
    mine = coarse_scores(model, dataset, mapping, callback, batch_size=16, seed=3)
    callback._stage = "test"
    with torch.random.fork_rng():
        torch.manual_seed(epoch_seed(3, EVAL_STREAM))
        loader = eval_loader(dataset, 16, max_samples=64)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PL_GLOBAL_SEED", "3")
            counts = callback.count_correct(model, loader, mapping)
    expected = (counts[1 + 3 :] / counts[0]).tolist()  # after n and the 3 fine columns
    assert list(mine) == ["coarse_acc", "coarse_robust_acc@0", "coarse_robust_acc@0.1",
                          "coarse_robust_acc@0.3"]  # fmt: skip
    assert list(mine.values()) == pytest.approx(expected, abs=1e-9)
    assert mine["coarse_robust_acc@0.3"] < mine["coarse_acc"]  # the attack did break points


def test_the_tiny_digits_grid_end_to_end(tiny_results):
    """`benign repro fine-vs-coarse-factors` (SGD vs Adam, 1 seed): INTERFACE.md's columns, a
    coarse and a fine run per recipe, and the summary's gap read from results.csv."""
    import os

    from tests.repro.test_e2e import check_png
    from tests.repro.test_tables import INTERFACE_COLUMNS

    out = tiny_results("fine-vs-coarse-factors")
    results = pd.read_csv(os.path.join(out, "results.csv"))
    assert list(results.columns) == INTERFACE_COLUMNS
    tags = ["ERM[optimizer=sgd]", "ERM[optimizer=adam]"]
    assert sorted(results["method"].unique()) == sorted(tags)
    robust = results[(results["metric"] == "coarse_robust_acc") & (results["eps"] == 0.1)]
    assert len(robust) == 4 and (robust["coarse_map"] == "halves").all()
    by = robust.set_index(["method", "label_level"])["value"]
    gap = by[(tags[1], "fine")] - by[(tags[1], "coarse")]
    with open(os.path.join(out, "summary.md")) as handle:
        summary = handle.read()
    assert f"| optimizer=adam | halves | {by_clean(results, tags[1]):.3f} | " in summary
    assert f"| {gap:.3f} | 1 |" in summary
    check_png(os.path.join(out, "figure.png"))


def by_clean(results: pd.DataFrame, tag: str) -> float:
    """The clean coarse accuracy gap (fine − coarse) of recipe ``tag``."""
    rows = results[(results["metric"] == "coarse_acc") & (results["method"] == tag)]
    values = rows.set_index("label_level")["value"]
    return float(values["fine"] - values["coarse"])
