"""E7 ``benign repro boundary``: its grid, its measures on a model, its paired differences."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from benign.errors import ConfigError
from benign.repro.config import Settings
from benign.repro.experiments.boundary import Boundary, measure_boundary
from benign.repro.experiments.boundary_report import boundary_figure, boundary_summary
from benign.repro.results import COLUMNS, make_row
from benign.repro.samples import SAMPLE_COMMANDS


def test_the_grid_is_erm_at_trades_on_clean_labels_per_seed() -> None:
    cells = Boundary().cells(Settings(quick=True, seeds=2))
    assert [c.name for c in cells] == [
        f"{m}-clean-seed{s}" for s in range(2) for m in ("erm", "at", "trades")
    ]
    for cell in cells:
        args = list(cell.args)
        assert args[args.index("--data.noise_rate") + 1] == "0.0"
        assert cell.columns["noise_rate"] == 0.0
        assert cell.extra["boundary"]["points"] == 500
    at = list(cells[1].args)
    assert at[at.index("--model.init_args.attack.init_args.eps") + 1] == "0.1"
    assert cells[1].columns["train_eps"] == 0.1 and cells[0].columns["train_eps"] == 0.0
    assert "--model.init_args.attack.init_args.eps" not in cells[0].args


class Halves(nn.Module):
    """Class 1 where the mean pixel exceeds 0.5 (a linear boundary on images)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale * (x.flatten(1).mean(dim=1) - 0.5)
        return torch.stack([-s, s], dim=1)


def test_measures_of_a_linear_image_classifier() -> None:
    images = torch.rand(60, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    targets = (images.flatten(1).mean(dim=1) > 0.5).long()
    conf = {
        "points": 40, "pairs": 30, "segment_steps": 32, "linearity_eps": 0.05,
        "linearity_steps": 5, "max_eps": 0.3, "bisection_iters": 10, "pgd_steps": 5,
        "batch_size": 16,
    }  # fmt: skip
    measured = measure_boundary(Halves(), images, targets, 0, conf)
    assert set(measured) == {
        "boundary_changes", "boundary_changes_same", "local_linearity",
        "boundary_distance_median", "boundary_distance_mean",
    }  # fmt: skip
    assert measured["boundary_changes"][0] <= 1.0  # a linear boundary: at most one change
    assert measured["boundary_changes_same"][0] == 0.0  # same class: same side
    assert measured["local_linearity"][1] == 0.05
    # distance = |mean - 0.5| (moving every pixel by eps moves the mean by eps)
    expected = (images.flatten(1).mean(dim=1) - 0.5).abs()
    assert 0 < measured["boundary_distance_median"][0] <= float(expected.max()) + 1e-3


def fake_results() -> pd.DataFrame:
    """3 seeds; AT's robust acc is ERM's + 0.2 (+- 0.01), TRADES' changes equal ERM's."""
    rows = []
    for seed in range(3):
        jitter = 0.01 * (seed - 1)
        for method, robust, changes in (("ERM", 0.3, 1.0), ("AT", 0.5 + jitter, 2.0), ("TRADES", 0.4, 1.0 + jitter)):  # fmt: skip
            cell = {"experiment": "boundary", "dataset": "digits", "method": method, "seed": seed}
            rows += [
                make_row(cell, "acc", 0.9),
                make_row(cell, "robust_acc", robust, 0.1),
                make_row(cell, "boundary_changes", changes),
                make_row(cell, "local_linearity", 0.01, 0.1),
                make_row(cell, "boundary_distance_median", 0.05),
            ]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_summary_gives_paired_differences_with_intervals_and_directions() -> None:
    text = boundary_summary(fake_results(), "benign repro boundary --quick", "digits", 0.1)
    line = next(r for r in text.splitlines() if r.startswith("| robust acc @ ε=0.1 |"))
    assert "| 0.200 ± 0.025 | above 0 |" in line  # t_{0.975,2} * 0.01 = 0.0248
    assert "| 0.100 ± 0.000 | above 0 |" in line
    changes = next(r for r in text.splitlines() if r.startswith("| class changes along"))
    assert "| 1.000 ± 0.000 | above 0 |" in changes and "includes 0" in changes
    assert "![E7](figure.png)" in text
    assert len(boundary_figure(fake_results()).axes) == 4


def test_a_sample_ships_and_is_one_real_seed() -> None:
    from benign.repro.samples import sample_results

    assert "boundary" in SAMPLE_COMMANDS
    sample = pd.read_csv(sample_results("boundary"))
    assert set(sample["method"]) == {"ERM", "AT", "TRADES"} and set(sample["seed"]) == {0}
    for metric in ("robust_acc", "boundary_changes", "local_linearity", "boundary_distance_median"):
        values = sample.loc[sample["metric"] == metric, "value"]
        assert len(values) and all(math.isfinite(v) for v in values)


@pytest.mark.parametrize(
    "bad",
    [
        "train_eps={AT: 0.1}",
        "train_eps={AT: 0.1, TRADES: [0.05, 0.1]}",
        "train_eps={AT: -1, TRADES: 0.1}",
    ],
)
def test_a_missing_or_bad_training_eps_is_a_one_line_error(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        Boundary().cells(Settings(quick=True, overrides=(bad,)))
    assert "train_eps must give" in str(err.value) and "\n" not in str(err.value)
