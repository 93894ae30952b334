"""label-noise's comparison of noise kinds at equal rates: grid, tables, paired differences."""

from __future__ import annotations

import pandas as pd

from benign.repro.config import Settings
from benign.repro.experiments.label_noise import compare_rates
from benign.repro.registry import get_experiment
from benign.repro.results import COLUMNS, make_row


def test_compare_rates_reads_a_list_or_one_rate() -> None:
    assert compare_rates({"noise_rates": [0.1, 0.2]}) == [0.1, 0.2]
    assert compare_rates({"noise_rate": 0.4}) == [0.4]
    assert compare_rates({}) == []


def test_the_grid_compares_every_kind_at_each_rate_once() -> None:
    settings = Settings(
        quick=True,
        seeds=1,
        overrides=("noise_rates=[0.0, 0.2]", "compare={noise_rates: [0.1, 0.2], noise_types: [symmetric, coverage]}"),
    )  # fmt: skip
    cells = get_experiment("label-noise").cells(settings)
    assert sorted((c.columns["noise_type"], c.columns["noise_rate"]) for c in cells) == [
        ("coverage", 0.1), ("coverage", 0.2),
        ("symmetric", 0.0), ("symmetric", 0.1), ("symmetric", 0.2),
    ]  # fmt: skip


def results() -> pd.DataFrame:
    """3 seeds at rate 0.2: coverage's robust acc is symmetric's - 0.1 (+- 0.01)."""
    rows = []
    for seed in range(3):
        for kind, robust, realised in (("symmetric", 0.5, 0.2), ("coverage", 0.4 + 0.01 * (seed - 1), 0.2), ("asymmetric", 0.5, 0.1)):  # fmt: skip
            cell = {"experiment": "label-noise", "dataset": "digits", "method": "ERM",
                    "noise_rate": 0.2, "noise_type": kind, "seed": seed}  # fmt: skip
            rows += [
                make_row(cell, "acc", 0.9),
                make_row(cell, "acc_noisy", 1.0),
                make_row(cell, "robust_acc", 0.9, 0.0),
                make_row(cell, "robust_acc", robust, 0.05),
                make_row(cell, "realised_noise_rate", realised),
            ]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_summary_gives_each_kind_minus_symmetric_with_its_interval() -> None:
    text = get_experiment("label-noise").summary(results(), Settings(quick=True, seeds=3))
    assert "## Noise kinds at rate 0.2" in text
    coverage = next(r for r in text.splitlines() if r.startswith("| coverage | -0.100"))
    assert "-0.100 ± 0.025 (below 0)" in coverage
    asymmetric = next(r for r in text.splitlines() if r.startswith("| asymmetric |") and "(" in r)
    assert "0.000 ± 0.000 (includes 0)" in asymmetric
    realised = next(r for r in text.splitlines() if r.startswith("| asymmetric | 0.900"))
    assert "0.100 ± 0.000" in realised  # the realised rate column
