"""Theorem 1's quantities: the bound on m, independent flips, the floor, the ball sampler."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benign.errors import ConfigError
from benign.theory.balls import (
    BallDistribution,
    bernoulli_flips,
    interpolation_floor,
    sample_bound,
)
from benign.theory.nearest_neighbour import NearestNeighbour


def test_sample_bound_is_the_theorems_formula() -> None:
    assert sample_bound(10, 0.2, 0.1) == pytest.approx(10 / 0.2 * math.log(100))
    assert sample_bound(20, 0.1, 0.05, c2=0.5) == pytest.approx(20 / 0.05 * math.log(400))
    # at m = bound, the union bound on "some ball gets no flip" is exactly delta
    m = sample_bound(10, 0.2, 0.1)
    assert 10 * math.exp(-m * 0.2 / 10) == pytest.approx(0.1)
    for bad in ({"eta": 0.0}, {"delta": 1.0}, {"c2": 0.0}):
        with pytest.raises(ConfigError, match="Theorem 1 needs"):
            sample_bound(**{"num_centres": 10, "eta": 0.2, "delta": 0.1, **bad})


@pytest.mark.parametrize("num_classes", [2, 5])
def test_bernoulli_flips_are_independent_at_rate_eta(num_classes: int) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, num_classes, 40_000)
    observed, flipped = bernoulli_flips(labels, 0.2, num_classes, rng)
    assert np.array_equal(flipped, observed != labels)
    assert abs(flipped.mean() - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 40_000)
    # Binomial, not an exact count: two draws flip different numbers of labels
    other = bernoulli_flips(labels, 0.2, num_classes, np.random.default_rng(1))[1]
    assert other.sum() != flipped.sum()
    if num_classes > 2:  # the new class is uniform over the other classes
        shifts = (observed[flipped] - labels[flipped]) % num_classes
        counts = np.bincount(shifts, minlength=num_classes)[1:]
        assert counts.min() > 0.9 * counts.mean()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_sample_lies_in_one_class_balls(norm: str) -> None:
    distribution = BallDistribution(8, num_classes=2, dim=3, rho=0.05, norm=norm)
    sample = distribution.sample(400, 0.3, 300, seed=0)
    for x, ball in ((sample.train_x, sample.train_ball), (sample.test_x, sample.test_ball)):
        offset = x - distribution.centres[ball]
        size = np.abs(offset).max(1) if norm == "linf" else np.sqrt((offset**2).sum(1))
        assert size.max() <= 0.05 + 1e-12
    assert np.array_equal(sample.test_y, distribution.centre_classes[sample.test_ball])
    assert np.array_equal(sample.flipped, sample.train_observed != sample.train_true)
    assert distribution.c1 == 1.0 and distribution.c2 == pytest.approx(1.0)
    again = distribution.sample(400, 0.3, 300, seed=0)
    assert np.array_equal(again.train_x, sample.train_x)  # seeded


def test_every_ball_flipped_is_the_proofs_event() -> None:
    distribution = BallDistribution(5, rho=0.05)
    few = distribution.sample(5, 0.01, 10, seed=0)
    assert not few.every_ball_flipped(5)
    many = distribution.sample(400, 0.5, 10, seed=0)
    assert many.every_ball_flipped(5)


def test_floor_counts_points_near_a_flipped_point_of_their_ball() -> None:
    train_x = np.array([[0.5, 0.5], [0.2, 0.2]])
    labels = np.array([1, 0])  # the first point is flipped (its ball is class 0)
    test_x = np.array([[0.55, 0.5], [0.7, 0.5], [0.25, 0.2]])
    test_y = np.array([0, 0, 1])
    near = interpolation_floor(train_x, labels, test_x, test_y, 0.1, "linf")
    assert near.tolist() == [True, False, True]
    # restricted to the same ball, the last point (another ball) no longer counts
    same = interpolation_floor(
        train_x, labels, test_x, test_y, 0.1, "linf", np.array([0, 1]), np.array([0, 0, 2])
    )
    assert same.tolist() == [True, False, False]


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_one_nn_is_never_below_the_floor(norm: str) -> None:
    distribution = BallDistribution(6, dim=2, rho=0.05, norm=norm)
    sample = distribution.sample(120, 0.2, 300, seed=1)
    rule = NearestNeighbour(norm).fit(sample.train_x, sample.train_observed)
    vulnerable = rule.vulnerable(sample.test_x, sample.test_y, 0.1)
    floor = interpolation_floor(
        sample.train_x, sample.train_observed, sample.test_x, sample.test_y, 0.1, norm,
        sample.train_ball, sample.test_ball,
    )  # fmt: skip
    assert floor.any() and np.all(vulnerable[floor])
