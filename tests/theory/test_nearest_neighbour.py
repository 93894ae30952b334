"""The exact attack on 1-NN (PAPER.md, Theorem 1): against brute force on a fine 2-D grid."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from benign.theory.cell_distance import linf_boxes_blocked
from benign.theory.nearest_neighbour import (
    NearestNeighbour,
    min_adversarial_distance,
    pairwise_distances,
    vulnerable,
)

STEP = 1 / 500  # the brute-force grid over [0, 1]^2


def _grid() -> np.ndarray:
    axis = np.arange(0.0, 1.0 + STEP / 2, STEP)
    return np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)


def _brute_force(train_x, train_y, x, y, norm):
    """Distance from each test point to the nearest grid point that 1-NN labels wrongly."""
    grid = _grid()
    labels = NearestNeighbour(norm).fit(train_x, train_y).predict(grid)
    return np.array(
        [pairwise_distances(x[i : i + 1], grid[labels != y[i]], norm).min() for i in range(len(x))]
    )


def _problem(seed: int, n_train: int = 16, n_test: int = 20):
    rng = np.random.default_rng(seed)
    return (
        rng.uniform(0, 1, (n_train, 2)),
        rng.integers(0, 2, n_train),
        rng.uniform(0, 1, (n_test, 2)),
        rng.integers(0, 2, n_test),
    )


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_min_adversarial_distance_matches_brute_force(norm: str) -> None:
    train_x, train_y, x, y = _problem(1)
    exact = min_adversarial_distance(train_x, train_y, x, y, norm)
    brute = _brute_force(train_x, train_y, x, y, norm)
    # every grid point is a real perturbation: the exact minimum can only be smaller ...
    assert np.all(exact <= brute + 1e-7)
    # ... and by no more than the grid can resolve
    assert np.max(brute - exact) <= 2 * STEP
    assert (exact == 0).sum() == (
        NearestNeighbour(norm).fit(train_x, train_y).predict(x) != y
    ).sum()
    assert (exact > 0.05).sum() >= 5  # the problem has non-trivial attacks to find


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_vulnerable_is_the_exact_distance_thresholded(norm: str) -> None:
    train_x, train_y, x, y = _problem(2, n_train=24, n_test=25)
    distance = min_adversarial_distance(train_x, train_y, x, y, norm)
    for eps in (0.02, 0.06, 0.12):
        decided = vulnerable(train_x, train_y, x, y, eps, norm)
        clear = np.abs(distance - eps) > 1e-6
        assert np.array_equal(decided[clear], distance[clear] <= eps)
        assert 0 < decided.sum() < len(x) or eps == 0.12


def test_box_blocking_is_exact_in_2d() -> None:
    """linf_boxes_blocked says 'blocked' iff the right point beats z on the whole box."""
    rng = np.random.default_rng(3)
    axis = np.linspace(0, 1, 41)
    unit = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    seen = set()
    for _ in range(300):
        z, right = rng.uniform(0, 1, 2), rng.uniform(0, 1, (1, 2))
        lo = rng.uniform(0, 0.8, 2)
        hi = lo + rng.uniform(0.01, 0.2, 2)
        blocked = linf_boxes_blocked(z, right, lo[None], hi[None])[0]
        points = lo + unit * (hi - lo)
        margin = np.abs(points - right).max(1) - np.abs(points - z).max(1)
        if blocked:
            assert margin.max() < 0  # the right point is strictly closer everywhere
        else:
            assert margin.max() >= -2e-2 * (hi - lo).max()  # z ties or wins somewhere
        seen.add(bool(blocked))
    assert seen == {True, False}


@pytest.mark.parametrize("norm, metric", [("linf", "chebyshev"), ("l2", "euclidean")])
def test_predict_matches_sklearn(norm: str, metric: str) -> None:
    train_x, train_y, x, _ = _problem(4, n_train=50, n_test=200)
    ours = NearestNeighbour(norm).fit(train_x, train_y).predict(x)
    theirs = KNeighborsClassifier(1, metric=metric).fit(train_x, train_y).predict(x)
    assert np.array_equal(ours, theirs)


def test_hand_computed_bisector_distance() -> None:
    train_x = np.array([[0.5, 0.5], [0.52, 0.5], [0.1, 0.1]])
    train_y = np.array([0, 1, 0])
    x, y = np.array([[0.47, 0.5], [0.2, 0.1]]), np.array([0, 0])
    # l2: 1-NN switches to class 1 on the bisector x_0 = 0.51, 0.04 from x[0]
    distance = min_adversarial_distance(train_x, train_y, x, y, "l2")
    assert distance[0] == pytest.approx(0.04, abs=1e-6)
    assert distance[1] > 0.2
    assert vulnerable(train_x, train_y, x, y, 0.05, "l2").tolist() == [True, False]
    assert vulnerable(train_x, train_y, x, y, 0.039, "l2").tolist() == [False, False]
    # linf: the bisector of two points on a horizontal line has slanted arms, so moving
    # diagonally reaches a tie 0.025 away: (0.495, 0.525) is 0.025 from both
    linf = min_adversarial_distance(train_x, train_y, x[:1], y[:1], "linf")
    assert linf[0] == pytest.approx(0.025, abs=1e-6)
