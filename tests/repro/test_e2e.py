"""`benign repro` end to end on digits with tiny settings: real `benign fit` cells, the outputs
INTERFACE.md promises, and resuming without retraining."""

from __future__ import annotations

import os

import matplotlib.image
import numpy as np
import pandas as pd

import benign.cli
from tests.repro.helpers import tiny_repro
from tests.repro.test_tables import INTERFACE_COLUMNS

EPS = [0.0, 0.05, 0.1]


def check_png(path: str) -> None:
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.05  # something was drawn


def test_label_noise_writes_results_figure_summary_and_resumes(tiny_results, monkeypatch, capsys):
    out = tiny_results("label-noise")
    results = pd.read_csv(os.path.join(out, "results.csv"))
    assert list(results.columns) == INTERFACE_COLUMNS
    cells = results.groupby(["noise_type", "noise_rate", "seed"])
    assert sorted(cells.groups) == [
        ("class_subset", 0.4, 0),
        ("symmetric", 0.0, 0),
        ("symmetric", 0.4, 0),
    ]
    for key, cell in cells:
        robust = cell[cell["metric"] == "robust_acc"]
        assert sorted(robust["eps"]) == EPS, key
        assert cell.loc[cell["metric"] == "acc", "eps"].isna().all()
        assert {"acc", "train_acc", "acc_clean"} <= set(cell["metric"])
        assert ("acc_noisy" in set(cell["metric"])) == (key[1] > 0)
        rates = cell[~cell["metric"].str.contains("loss")]
        assert rates["value"].between(0, 1).all() and (cell["value"] >= 0).all()
        assert (cell["experiment"] == "label-noise").all() and (cell["method"] == "ERM").all()
        assert (cell["backbone"] == "DigitsCNN").all() and (cell["dataset"] == "digits").all()

    # The grid's noise settings reach the data: class_subset flips only classes 0-4.
    manifest = np.load(os.path.join(out, "runs", "erm-class_subset-noise0.4-seed0", "noise.npz"))
    flipped = manifest["true_labels"][manifest["noisy_indices"]]
    assert len(flipped) == round(0.4 * len(manifest["true_labels"])) and flipped.max() <= 4

    check_png(os.path.join(out, "figure.png"))
    summary = open(os.path.join(out, "summary.md")).read()
    assert "| noise rate | clean test acc | robust acc @ ε=0.05 | robust acc @ ε=0.1 |" in summary
    assert "| noise type |" in summary and "| class_subset |" in summary
    assert "benign repro label-noise --dataset digits --seeds 1 --quick" in summary
    assert len(os.listdir(os.path.join(out, "logs"))) == 3

    # Rerunning the command trains nothing and rewrites the same table.
    def no_training(*args, **kwargs):
        raise AssertionError("a finished cell was trained again")

    monkeypatch.setattr(benign.cli, "BenignCLI", no_training)
    before = pd.read_csv(os.path.join(out, "results.csv"))
    capsys.readouterr()
    tiny_repro("label-noise", out, monkeypatch)
    pd.testing.assert_frame_equal(pd.read_csv(os.path.join(out, "results.csv")), before)
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in printed] == ["results.csv", "figure.png", "summary.md"]


def test_memorization_fills_train_eps(tiny_results):
    results = pd.read_csv(os.path.join(tiny_results("memorization"), "results.csv"))
    cells = results.groupby(["method", "train_eps"])
    assert sorted(cells.groups) == [("AT", 0.1), ("ERM", 0.0), ("TRADES", 0.1)]
    for _, cell in cells:
        assert {"acc_noisy", "true_acc_noisy", "acc_clean", "acc", "robust_acc"} <= set(
            cell["metric"]
        )
        assert (cell["noise_rate"] == 0.2).all()


def test_fine_vs_coarse_scores_both_models_on_the_coarse_task(tiny_results):
    out = tiny_results("fine-vs-coarse")
    results = pd.read_csv(os.path.join(out, "results.csv"))
    for level in ("coarse", "fine"):
        cell = results[results["label_level"] == level]
        assert sorted(cell.loc[cell["metric"] == "coarse_robust_acc", "eps"]) == EPS
        assert (cell["coarse_map"] == "halves").all()
    coarse = results[results["label_level"] == "coarse"].set_index(["metric", "eps"])["value"]
    assert coarse[("coarse_acc", np.nan)] == coarse[("acc", np.nan)]  # its accuracy is coarse
    check_png(os.path.join(out, "figure.png"))


def test_mislabelled_scores_rankings_against_the_planted_flips(tiny_results):
    out = tiny_results("mislabelled")
    results = pd.read_csv(os.path.join(out, "results.csv"))
    files = {"AT": "at", "AT-steps": "at-steps", "ERM": "erm", "cleanlab": "cleanlab",
             "logreg_pixels": "logreg-pixels"}  # fmt: skip
    assert sorted(results["method"].unique()) == sorted(files)
    for method, cell in results.groupby("method"):
        values = cell.drop_duplicates("metric").set_index("metric")["value"]
        assert values["n_planted"] == 20 and values["k"] == 10, method  # 10% of 200 training points
        name = f"{files[method]}-symmetric-seed0.csv"
        ranking = pd.read_csv(os.path.join(out, "rankings", name))
        if method == "AT-steps":  # fewest attack steps first
            assert ranking["score"].is_monotonic_increasing
        else:
            assert ranking["score"].is_monotonic_decreasing
        # counted here from the ranking file, not by the function that wrote the value
        assert values["precision_at_k"] == ranking["planted"].iloc[:10].sum() / 10, method
        assert values["precision_at_n"] == ranking["planted"].head(20).mean()
    check_png(os.path.join(out, "candidates.png"))
    check_png(os.path.join(out, "figure.png"))
    assert "![candidates](candidates.png)" in open(os.path.join(out, "summary.md")).read()


def test_mislabelled_on_real_labels_draws_both_tops_with_their_shared_points(tmp_path, monkeypatch):
    """``noise_rate=0``: nothing planted, so the AT and cleanlab grids say only which of their
    top candidates the other top shares (blue), with neutral titles, and the summary counts them."""
    import benign.repro.mislabelled_ranking as ranking_module

    drawn: dict[str, tuple[list[str], list[str]]] = {}
    real_grid = ranking_module.image_grid

    def record(images, titles, path, colors=None, **kwargs):
        drawn[os.path.basename(path)] = (list(titles), list(colors))
        real_grid(images, titles, path, colors=colors, **kwargs)

    monkeypatch.setattr(ranking_module, "image_grid", record)
    out = str(tmp_path / "real")
    tiny_repro("mislabelled", out, monkeypatch, "--set", "noise_rate=0", "--set",
               "rankers=[AT]", "--set", "steps_rankers=[]", "--set", "logreg_pixels=null")  # fmt: skip
    tops = [
        pd.read_csv(os.path.join(out, "rankings", f"{name}-symmetric-seed0.csv")).head(8)
        for name in ("at", "cleanlab")
    ]
    shared = set(tops[0]["source_index"]) & set(tops[1]["source_index"])
    for top, grid in zip(tops, ("candidates.png", "candidates-cleanlab.png"), strict=True):
        titles, colors = drawn[grid]
        expected = ["tab:blue" if i in shared else "0.6" for i in top["source_index"]]
        assert colors == expected, grid
        assert all("suggested" in t and "model:" not in t for t in titles)
        check_png(os.path.join(out, grid))
    summary = open(os.path.join(out, "summary.md")).read()
    assert f"{len(shared)} of the 8 points are in both tops" in summary
    assert "planted flip" not in summary and "nothing is planted" in summary
