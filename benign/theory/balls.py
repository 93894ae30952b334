"""Theorem 1's quantities on the ball distribution (PAPER.md, "The theory").

The distribution is :class:`benign.data.SyntheticDataModule`'s: ``|zeta|`` disjoint l_p balls
of radius ``rho``, one class each, every ball of probability ``1 / |zeta|`` (so ``c1 = c2 = 1``).
The theorem's noise model flips each training label *independently* with probability ``eta``
(:func:`bernoulli_flips`), not the data modules' exact-count ``symmetric`` noise: the number of
flips is Binomial(m, eta), as in the proof's union bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from benign.data.synthetic import SyntheticDataModule, sample_in_balls
from benign.errors import ConfigError
from benign.theory.nearest_neighbour import pairwise_distances


def sample_bound(num_centres: int, eta: float, delta: float, c2: float = 1.0) -> float:
    """Theorem 1's sample size: ``m >= |zeta| / (eta c2) * log(|zeta| / delta)``."""
    if not 0 < eta <= 1 or not 0 < delta < 1 or not 0 < c2 <= 1 or num_centres < 1:
        raise ConfigError(
            f"Theorem 1 needs 0 < eta <= 1, 0 < delta < 1, 0 < c2 <= 1 and |zeta| >= 1, got "
            f"eta={eta}, delta={delta}, c2={c2}, |zeta|={num_centres}: fix the configuration"
        )
    return num_centres / (eta * c2) * math.log(num_centres / delta)


def bernoulli_flips(
    labels: np.ndarray, eta: float, num_classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Flip each label independently with probability ``eta`` to a uniformly chosen other class.

    Returns ``(observed, flipped)``: the noisy labels and the BoolArray of flipped points.
    """
    labels = np.asarray(labels, dtype=np.int64)
    flipped = rng.random(len(labels)) < eta
    shift = rng.integers(1, num_classes, len(labels))  # never 0: the new class always differs
    observed = np.where(flipped, (labels + shift) % num_classes, labels)
    return observed, flipped


def interpolation_floor(
    train_x: np.ndarray,
    train_labels: np.ndarray,
    test_x: np.ndarray,
    test_labels: np.ndarray,
    radius: float,
    norm: str,
    train_group: np.ndarray | None = None,
    test_group: np.ndarray | None = None,
) -> np.ndarray:
    """BoolArray: test points within ``radius`` of a training point whose (observed) label is
    not their clean label, optionally only counting training points of the same group (ball).

    Every classifier that fits the training set labels that training point wrongly for the test
    point, so each marked test point is misclassified within ``radius`` by *every* interpolating
    classifier (PAPER.md, "A lower bound for any perfect fit"); their share is a floor for the
    adversarial risk of any interpolator.
    """
    dist = pairwise_distances(test_x, train_x, norm)
    near = (dist <= radius) & (np.asarray(test_labels)[:, None] != np.asarray(train_labels)[None])
    if train_group is not None and test_group is not None:
        near &= np.asarray(test_group)[:, None] == np.asarray(train_group)[None]
    return near.any(axis=1)


@dataclass
class BallSample:
    """One draw of Theorem 1's setting: a noisy training sample and a clean test sample."""

    train_x: np.ndarray
    train_ball: np.ndarray
    train_true: np.ndarray
    train_observed: np.ndarray
    flipped: np.ndarray
    test_x: np.ndarray
    test_ball: np.ndarray
    test_y: np.ndarray

    def every_ball_flipped(self, num_centres: int) -> bool:
        """The event of the proof: every ball holds at least one flipped training point."""
        return len(np.unique(self.train_ball[self.flipped])) == num_centres


class BallDistribution:
    """Sampler of the ball distribution of a :class:`SyntheticDataModule` (no Lightning).

    Args:
        num_centres: |zeta|; ``num_classes``, ``dim``, ``rho``, ``norm``, ``data_seed`` as for
            :class:`SyntheticDataModule` (which places the centres and checks the values).
    """

    def __init__(
        self,
        num_centres: int,
        num_classes: int = 2,
        dim: int = 2,
        rho: float = 0.05,
        norm: str = "linf",
        data_seed: int = 0,
    ) -> None:
        module = SyntheticDataModule(
            num_centres=num_centres,
            num_classes=num_classes,
            dim=dim,
            rho=rho,
            norm=norm,
            data_seed=data_seed,
        )
        self.num_centres, self.num_classes = module.num_centres, module.num_classes
        self.dim, self.rho, self.norm = module.dim, module.rho, module.norm
        self.ball_probability = module.ball_probability
        self.centres = module.centres.double().numpy()
        self.centre_classes = module.centre_classes.numpy()

    @property
    def c1(self) -> float:
        """Probability of the union of the balls (the whole support)."""
        return 1.0

    @property
    def c2(self) -> float:
        """``|zeta| *`` the smallest ball probability."""
        return self.num_centres * self.ball_probability

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` i.i.d. points and their balls."""
        balls = rng.integers(0, self.num_centres, n)
        return sample_in_balls(self.centres, balls, self.rho, self.norm, rng), balls

    def sample(self, m: int, eta: float, num_test: int, seed: int) -> BallSample:
        """``m`` training points with independent flips at rate ``eta``, ``num_test`` clean test
        points; all seeded by ``seed``."""
        rng = np.random.default_rng([seed, m])
        train_x, train_ball = self.draw(m, rng)
        true = self.centre_classes[train_ball]
        observed, flipped = bernoulli_flips(true, eta, self.num_classes, rng)
        test_x, test_ball = self.draw(num_test, rng)
        return BallSample(
            train_x=train_x,
            train_ball=train_ball,
            train_true=true,
            train_observed=observed,
            flipped=flipped,
            test_x=test_x,
            test_ball=test_ball,
            test_y=self.centre_classes[test_ball],
        )
