"""benign rank on a tiny E4 run: every ranking.csv column, the same precision as the
experiment reports, and the one-line errors of bad inputs."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from tests.cli.helpers import run_benign

COLUMNS = [
    "index", "given_label", "suggested_label", "score", "rank",
    "true_label", "noisy", "attack_steps", "position",
]  # fmt: skip


@pytest.fixture(scope="module")
def ranked(tmp_path_factory, tiny_at_run):
    """benign rank of the tiny run's AT checkpoint into a fresh folder."""
    out = str(tmp_path_factory.mktemp("ranked") / "out")
    ckpt = os.path.join(tiny_at_run, "runs", "at-symmetric-seed0", "checkpoints", "last.ckpt")
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert (
            run_benign(["rank", "--ckpt_path", ckpt, "--top", "8", "--out", out], monkeypatch) == 0
        )
    return out


def test_every_column_against_the_noise_manifest(ranked, tiny_at_run):
    ranking = pd.read_csv(os.path.join(ranked, "ranking.csv"))
    assert list(ranking.columns) == COLUMNS
    manifest = np.load(os.path.join(tiny_at_run, "runs", "at-symmetric-seed0", "noise.npz"))
    n = len(manifest["source_indices"])
    assert len(ranking) == n == 200
    assert ranking["rank"].tolist() == list(range(1, n + 1))
    assert sorted(ranking["position"]) == list(range(n))
    at = ranking.set_index("position").sort_index()
    assert (at["index"].to_numpy() == manifest["source_indices"]).all()
    assert (at["given_label"].to_numpy() == manifest["observed_labels"]).all()
    assert (at["true_label"].to_numpy() == manifest["true_labels"]).all()
    assert (at["noisy"].to_numpy() == manifest["noisy_mask"]).all() and at["noisy"].sum() == 20
    assert (ranking["suggested_label"] != ranking["given_label"]).all()
    assert ranking["score"].between(0, 1).all() and ranking["score"].is_monotonic_decreasing
    assert ranking["attack_steps"].between(0, 21).all()  # --max_steps 20; 21 = never flipped


def test_precision_equals_the_experiments(ranked, tiny_at_run):
    from benign.rank.ranking import precision_metrics

    results = pd.read_csv(os.path.join(tiny_at_run, "results.csv"))
    reported = results[results["method"] == "AT"].set_index("metric")["value"]
    mine = precision_metrics(pd.read_csv(os.path.join(ranked, "ranking.csv")))
    assert mine["k"] == reported["k"] == 10
    assert mine["precision_at_k"] == reported["precision_at_k"]
    assert mine["precision_at_n"] == reported["precision_at_n"]


def test_candidates_and_summary(ranked):
    with open(os.path.join(ranked, "candidates.png"), "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    summary = open(os.path.join(ranked, "summary.md")).read()
    assert "20 noisy labels, k = 10" in summary and "benign rank --ckpt_path" in summary


def test_attack_steps_ranking_is_fewest_steps_first(tmp_path, checkpoint, monkeypatch):
    out = str(tmp_path / "steps")
    argv = ["rank", "--ckpt_path", checkpoint, "--score", "attack_steps", "--max_steps", "3"]
    assert run_benign([*argv, "--split", "test", "--top", "4", "--out", out], monkeypatch) == 0
    ranking = pd.read_csv(os.path.join(out, "ranking.csv"))
    assert list(ranking.columns) == ["index", "given_label", "suggested_label", "score", "rank",
                                     "probability", "position"]  # fmt: skip
    assert ranking["score"].is_monotonic_increasing and ranking["score"].between(0, 4).all()
    assert sorted(ranking["index"]) == list(range(len(ranking)))  # the test set, in full


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "holdout"], "unknown --split 'holdout': use one of train, val, test"),
        (["--top", "0"], "--top 0: show at least 1 candidate"),
        (["--score", "loss"], "unknown --score 'loss'"),
        (["--max_steps", "-1"], "--max_steps -1"),
        (["--out", "FILE"], "is a file, not a folder"),
    ],
)
def test_bad_options_one_line_exit_2_nothing_written(
    args, message, checkpoint, tmp_path, monkeypatch, capsys
):
    (tmp_path / "FILE").write_text("x")
    args = [str(tmp_path / "FILE") if a == "FILE" else a for a in args]
    out = ["--out", str(tmp_path / "out")] if "--out" not in args else []
    assert run_benign(["rank", "--ckpt_path", checkpoint, *out, *args], monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert sorted(os.listdir(tmp_path)) == ["FILE"]


@pytest.mark.parametrize("kind", ["missing", "garbage", "outside_run"])
def test_bad_checkpoint_one_line_exit_2_nothing_written(
    kind, checkpoint, tmp_path, monkeypatch, capsys
):
    path = {"missing": str(tmp_path / "none.ckpt"), "outside_run": str(tmp_path / "copy.ckpt")}
    if kind == "garbage":
        path[kind] = os.path.join(os.path.dirname(checkpoint), "garbage.ckpt")
        with open(path[kind], "w") as handle:
            handle.write("not a checkpoint")
    if kind == "outside_run":
        with open(checkpoint, "rb") as src, open(path[kind], "wb") as dst:
            dst.write(src.read())
    before = sorted(os.listdir(tmp_path))
    try:
        code = run_benign(["rank", "--ckpt_path", path[kind], "--out", str(tmp_path / "out")],
                          monkeypatch)  # fmt: skip
    finally:
        if kind == "garbage":
            os.remove(path[kind])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    expected = {"missing": "not found", "garbage": "not a readable checkpoint",
                "outside_run": "is not in a run directory"}  # fmt: skip
    assert expected[kind] in err
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.slow
def test_precision_equals_the_experiments_on_the_quick_digits_at_run(tmp_path, monkeypatch):
    """The acceptance run: the --quick digits AT cell with 5% symmetric noise (60 epochs)."""
    from benign.rank.ranking import precision_metrics

    out = str(tmp_path / "e4")
    edits = ["rankers=[AT]", "noise_types=[symmetric]", "steps_rankers=[]", "cleanlab=null",
             "logreg_pixels=null"]  # fmt: skip
    argv = ["repro", "mislabelled", "--quick", "--no-progress", "--out", out]
    assert run_benign([*argv, *[a for e in edits for a in ("--set", e)]], monkeypatch) == 0
    ckpt = os.path.join(out, "runs", "at-symmetric-seed0", "checkpoints", "last.ckpt")
    ranked = str(tmp_path / "ranked")
    assert run_benign(["rank", "--ckpt_path", ckpt, "--out", ranked, "--max_steps", "0"]) == 0
    results = pd.read_csv(os.path.join(out, "results.csv")).set_index("metric")["value"]
    mine = precision_metrics(pd.read_csv(os.path.join(ranked, "ranking.csv")))
    assert results["n_planted"] == mine["n_planted"] == 57  # 5% of the 1,131 training points
    for metric in ("precision_at_k", "precision_at_n", "recall_at_2n"):
        assert mine[metric] == results[metric], metric
