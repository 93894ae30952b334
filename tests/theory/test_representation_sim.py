"""Claims 2 and 3 simulated (PAPER.md): exact robustness of each representation, and the claims'
numbers on a small simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from benign.repro.experiments.representation_report import claim_checks
from benign.theory.balls import bernoulli_flips
from benign.theory.representation import (
    RepresentationClassifier,
    noisy_slab,
    simulate_claims,
    two_signal,
)


def _brute_robust(model: RepresentationClassifier, x, y, eps: float, steps: int = 81) -> np.ndarray:
    """Correct on every point of a grid over the linf ball (corners included) and the box."""
    offsets = np.linspace(-eps, eps, steps)
    grid = np.stack(np.meshgrid(offsets, offsets), axis=-1).reshape(-1, 2)
    return np.array(
        [
            np.all(model.predict(np.clip(point + grid, 0, 1)) == label)
            for point, label in zip(x, y, strict=True)
        ]
    )


@pytest.mark.parametrize("name", ["raw", "standardized", "raw+cells"])
def test_exact_robustness_matches_a_grid_search(name: str) -> None:
    rng = np.random.default_rng(0)
    x, y = noisy_slab(60, rng)
    observed, _ = bernoulli_flips(y, 0.3, 2, rng)
    model = RepresentationClassifier(name, max_cell=0.02).fit(x, observed)
    test_x, test_y = noisy_slab(60, rng)
    test_x[:20, 0] = rng.uniform(0.35, 0.65, 20)  # some points near the clean boundary
    exact = model.robust(test_x, test_y, 0.06)
    brute = _brute_robust(model, test_x, test_y, 0.06)
    assert np.all(brute[exact])  # exactly robust: no grid point of the ball is misclassified
    assert np.mean(exact == brute) >= 0.95  # and the grid finds nearly every attack it proves
    assert 5 <= exact.sum() <= len(exact) - 5  # both outcomes occur


def test_decision_in_input_space_is_the_models() -> None:
    rng = np.random.default_rng(1)
    x, y = two_signal(200, rng)
    for name in ("raw", "standardized"):
        model = RepresentationClassifier(name).fit(x, y)
        decision = model.model_.decision_function(model.features(x))
        assert np.allclose(x @ model.w_ + model.b_, decision, atol=1e-6 * np.abs(decision).max())


def test_cells_fit_the_noise_and_raw_does_not() -> None:
    rng = np.random.default_rng(2)
    x, y = noisy_slab(300, rng)
    observed, flipped = bernoulli_flips(y, 0.2, 2, rng)
    cells = RepresentationClassifier("raw+cells").fit(x, observed)
    raw = RepresentationClassifier("raw").fit(x, observed)
    assert np.array_equal(cells.predict(x), observed)  # interpolates, flips included
    assert np.mean(raw.predict(x)[flipped] == y[flipped]) > 0.9  # predicts the true labels
    # cells are small enough that no cell holds two differently labelled training points
    a, b = x[observed == 0], x[observed == 1]
    assert cells.cell_ <= 0.5 * cdist(a, b, "chebyshev").min() + 1e-12


def test_the_claims_hold_on_a_small_simulation() -> None:
    rows = simulate_claims(0, num_train=400, num_test=600, eps=(0.0, 0.02, 0.05))
    results = pd.DataFrame(rows).rename(columns={"representation": "method"})
    results["dataset"] = "sim-" + results["data"]
    checks = claim_checks(results)
    assert checks["shown"].all(), checks.to_string()
    value = dict(zip(checks["quantity"], checks["value"], strict=True))
    # with margins: the numbers are far from their thresholds, not just over them
    assert value["robust acc @0.02, raw − standardized (clean labels)"] > 0.9
    assert value["raw: training error on the noisy labels"] > 0.15
    assert value["raw+cells: robust acc @0.05"] < 0.35
    assert (
        value["raw+cells: robust acc @0.05"]
        <= value["any interpolator: robust acc @0.05 at most"] + 1e-12
    )
