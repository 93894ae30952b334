"""A robust accuracy at an eps the evaluation's audit flagged is kept in the summary and marked."""

from __future__ import annotations

import pandas as pd

from benign.repro.config import Settings
from benign.repro.registry import get_experiment
from benign.repro.results import COLUMNS, make_row
from benign.repro.tables import FLAG, eps_columns, metric_table, sanity_note


def _runs(flagged_seeds: set[int]) -> pd.DataFrame:
    """ERM and AT, 3 seeds each, robust accuracy at eps 0.1 and 0.2; the stronger-attack check
    (made at 0.2) fails for AT on ``flagged_seeds``."""
    rows = []
    for method in ("ERM", "AT"):
        for seed in range(3):
            cell = {"seed": seed, "method": method, "noise_rate": 0.2}
            bad = method == "AT" and seed in flagged_seeds
            rows += [
                make_row(cell, "acc", 0.9),
                make_row(cell, "robust_acc", 0.8 - 0.01 * seed, eps=0.1),
                make_row(cell, "robust_acc", 0.5 + 0.01 * seed, eps=0.2),
                make_row(cell, "sanity_ok", 0.0 if bad else 1.0),
                make_row(cell, "sanity_stronger_attack", 0.0 if bad else 1.0),
                make_row(cell, "sanity_stronger_attack", 0.0 if bad else 1.0, eps=0.2),
            ]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_a_flagged_eps_is_marked_not_dropped():
    results = _runs({1})
    table = metric_table(results, ["method"], eps_columns(results, "robust_acc")).set_index(
        "method"
    )
    at, erm = table.loc["AT"], table.loc["ERM"]
    assert at["robust acc @ ε=0.2"] == f"0.510 ± 0.025 {FLAG}"  # kept, with its number
    assert at["robust acc @ ε=0.1"] == "0.790 ± 0.025"  # the check was not made there
    assert FLAG not in erm["robust acc @ ε=0.2"]  # ERM's runs passed
    note = sanity_note(results)
    assert "passed in 5 of 6 runs" in note and "Failed: stronger_attack (1 runs)." in note
    assert f"{FLAG} marks" in note and "stronger_attack at ε=0.2 (1 runs)" in note
    clean = _runs(set())
    assert FLAG not in metric_table(clean, ["method"], eps_columns(clean, "robust_acc")).to_string()
    assert FLAG not in sanity_note(clean)


def test_the_memorization_summary_marks_a_flagged_eps():
    experiment = get_experiment("memorization")
    settings = Settings(quick=True, seeds=3, out="o")
    results = _runs({0, 2}).assign(train_eps=float("nan"))
    results.loc[results["method"] == "AT", "train_eps"] = 0.1
    text = experiment.summary(results, settings)
    test_section = text.split("## Test accuracy, clean and robust")[1].split("## ")[0]
    line = next(row for row in test_section.splitlines() if row.startswith("| AT"))
    assert line.split(" | ")[-2].endswith(FLAG), line  # the eps-0.2 cell, before seeds
    assert f"{FLAG} marks" in text and "stronger_attack at ε=0.2 (2 runs)" in text
