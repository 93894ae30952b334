"""``benign bench --cases eval``: the default evaluation's cost against a PGD-20 grid (schema)."""

from __future__ import annotations

import json
import math

from tests.cli.helpers import run_benign


def test_eval_case_reports_the_cost_ratio_and_both_accuracies(capsys):
    args = ["bench", "--quick", "--cases", "eval", "--eval-samples", "60", "--json", "f.json"]
    assert run_benign(args) == 0
    with open("f.json") as handle:
        result = json.load(handle)
    ratio = result["eval_cost_ratio"]
    assert isinstance(ratio, float) and math.isfinite(ratio) and ratio > 0
    assert ratio == result["eval_ms"]["default"] / result["eval_ms"]["pgd_grid"]
    assert result["eval_points"] == 60 and result["eval_eps"] == [0.0, 0.02, 0.05, 0.1, 0.2]
    default, grid = result["default_robust_acc"], result["pgd_grid_robust_acc"]
    assert set(default) == set(grid) == {"0.0", "0.02", "0.05", "0.1", "0.2"}
    assert default["0.0"] == grid["0.0"]  # both: clean accuracy of the same points
    # the default is an upper bound at least as tight as PGD-20 (up to one point of 60)
    assert all(default[e] <= grid[e] + 1 / 60 + 1e-9 for e in default)
    assert list(default.values()) == sorted(default.values(), reverse=True)  # nested balls
    assert result["median_ms"] == {}  # no step case asked for
    out = capsys.readouterr().out
    assert "eval_cost_ratio" in out and "PGD-20 at every eps" in out
