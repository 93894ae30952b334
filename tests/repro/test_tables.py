"""Mean ± 95% CI over seeds, the Markdown tables of summary.md, the results.csv columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benign.repro.fit_runs import metric_rows
from benign.repro.results import COLUMNS, make_row
from benign.repro.stats import aggregate, format_mean_ci, mean_ci
from benign.repro.tables import (
    Column,
    eps_columns,
    markdown_table,
    metric_table,
    sanity_note,
    summary_document,
)

INTERFACE_COLUMNS = (
    "experiment, dataset, method, backbone, noise_rate, noise_type, label_level, coarse_map, "
    "train_eps, seed, eps, metric, value"
).split(", ")


def test_results_columns_are_the_interface_ones():
    assert COLUMNS == INTERFACE_COLUMNS


def test_mean_ci_is_students_t_interval():
    values = np.array([0.61, 0.55, 0.70, 0.58])
    mean, half, n = mean_ci(values)
    expected = stats.t.ppf(0.975, 3) * values.std(ddof=1) / math.sqrt(4)
    assert n == 4 and mean == pytest.approx(values.mean()) and half == pytest.approx(expected)
    assert mean - half < values.mean() < mean + half
    mean, half, n = mean_ci([0.4, float("nan")])
    assert (mean, n) == (0.4, 1) and math.isnan(half)
    assert mean_ci([])[2] == 0


def test_format_mean_ci():
    assert format_mean_ci(0.87812, 0.01234) == "0.878 ± 0.012"
    assert format_mean_ci(0.5, math.nan) == "0.500"
    assert format_mean_ci(math.nan, math.nan) == "–"


def results_frame() -> pd.DataFrame:
    rows = []
    for seed, (clean, robust) in enumerate([(0.9, 0.6), (0.8, 0.4), (0.85, 0.5)]):
        for rate in (0.0, 0.2):
            cell = {"experiment": "e", "noise_rate": rate, "seed": seed}
            rows.append(make_row(cell, "acc", clean - rate))
            rows.append(make_row(cell, "robust_acc", clean - rate, eps=0.0))
            rows.append(make_row(cell, "robust_acc", robust - rate, eps=0.05))
    return pd.DataFrame(rows, columns=COLUMNS)


def test_metric_table_holds_mean_and_ci_per_group():
    results = results_frame()
    columns = [
        Column("clean", "acc"),
        *eps_columns(results, "robust_acc"),
        Column("absent", "acc_noisy"),
    ]
    assert [c.eps for c in columns[1:-1]] == [0.05]  # eps 0 is the clean accuracy
    table = metric_table(results, ["noise_rate"], columns, labels={"noise_rate": "noise"})
    assert list(table.columns) == ["noise", "clean", "robust acc @ ε=0.05", "seeds"]
    assert list(table["noise"]) == [0.0, 0.2] and list(table["seeds"]) == [3, 3]
    mean, half, _ = mean_ci([0.4, 0.2, 0.3])
    assert table.loc[1, "robust acc @ ε=0.05"] == format_mean_ci(mean, half)
    grouped = aggregate(results[results["metric"] == "acc"], ["noise_rate"])
    assert grouped["mean"].tolist() == pytest.approx([0.85, 0.65])


def test_markdown_table_and_summary_document():
    frame = pd.DataFrame(
        {"method": ["AT|PGD", "ERM"], "acc": ["0.9 ± 0.1", "–"], "rate": [0.2, 0.1]}
    )
    text = markdown_table(frame)
    lines = text.strip().splitlines()
    assert lines[0] == "| method | acc | rate |"
    assert lines[1] == "| --- | --- | --- |"
    assert lines[2] == "| AT\\|PGD | 0.9 ± 0.1 | 0.2 |"
    assert len(lines) == 4
    assert markdown_table(pd.DataFrame()) == "_no results_\n"
    doc = summary_document("E1", "benign repro label-noise --quick", "What.", [("Table", text)])
    assert doc.startswith("# E1\n")
    assert "```bash\nbenign repro label-noise --quick\n```" in doc
    assert "## Table\n" in doc and text.strip() in doc


def test_train_metrics_do_not_collide_with_test_ones():
    metrics = {
        "train/acc": 0.99,
        "train/loss": 0.1,
        "train/acc_noisy": 0.97,
        "test/acc": 0.8,
        "test/robust_acc@0.05": 0.3,
        "val/acc": 0.7,
    }
    rows = {(r["metric"], r["eps"]): r["value"] for r in metric_rows(metrics, {"seed": 1})}
    assert rows == {
        ("acc", None): 0.8,
        ("robust_acc", 0.05): 0.3,
        ("train_acc", None): 0.99,
        ("train_loss", None): 0.1,
        ("acc_noisy", None): 0.97,
    }


def test_sanity_note_counts_runs_and_names_failed_checks():
    rows = []
    for seed, monotone in enumerate([1.0, 1.0, 0.0]):
        cell = {"seed": seed}
        rows += [make_row(cell, "sanity_ok", monotone), make_row(cell, "sanity_monotone", monotone)]
        rows.append(make_row(cell, "sanity_gradients", 1.0))
    results = pd.DataFrame(rows, columns=COLUMNS)
    note = sanity_note(results)
    assert (
        note
        == "The attack's sanity checks passed in 2 of 3 runs' test evaluations. Failed: monotone (1 runs)."
    )
    assert sanity_note(results[results["metric"] == "sanity_gradients"]) == ""
    doc = summary_document("E", "cmd", "x", [], audit=note)
    assert doc.rstrip().endswith("## Evaluation audit\n\n" + note)
