"""``coverage`` noise: a worst-case placement of the flipped labels at a given rate.

Theorem 1 of Sanyal et al. (ICLR 2021, PAPER.md) needs wrong labels spread over the input
space: a classifier that interpolates them is wrong in a small ball around every one, and the
balls cover more of the data the more evenly the flipped points are spread. ``coverage`` makes
that placement explicit. The ``round(rate * n)`` flipped points are a greedy *farthest-point*
sample of the training images in pixel space (Gonzalez 1985, the 2-approximation of the
k-center problem: each new point is the one farthest from all points chosen so far), started at
a point drawn from the noise seed; each flipped point gets a class drawn uniformly from the
other classes. The covering radius (the largest distance from a training point to its nearest
flipped point) is recorded in the manifest; it is at most twice the best possible one.

Cost: one pass over the training images per flipped point (``n * rate * n * d`` multiply-adds,
seconds on digits and 5,000-image subsets, a few minutes on the full MNIST training set).
"""

from __future__ import annotations

import numpy as np

from benign.data.noise import flip_to_other_class
from benign.data.splits import round_half_up


def flat_pixels(images: np.ndarray) -> np.ndarray:
    """Images ``[N, ...]`` as float32 rows ``[N, d]`` (uint8 scaled to [0, 1])."""
    array = np.asarray(images)
    scale = 255.0 if array.dtype == np.uint8 else 1.0
    return (array.reshape(len(array), -1).astype(np.float32)) / np.float32(scale)


def farthest_point_order(points: np.ndarray, k: int, start: int) -> tuple[np.ndarray, float]:
    """The first ``k`` points of the greedy farthest-point traversal from ``start``.

    Returns ``(indices, radius)``: the chosen rows in the order chosen and the largest Euclidean
    distance from any row to its nearest chosen row (``0.0`` when ``k >= len(points)``).
    Ties go to the lowest index, so the order is a function of ``points`` and ``start`` only.
    """
    points = np.asarray(points, dtype=np.float32)
    n = len(points)
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64), float("inf")
    norms = np.einsum("ij,ij->i", points, points)
    chosen = np.empty(k, dtype=np.int64)
    nearest = np.full(n, np.inf, dtype=np.float32)
    current = int(start)
    for step in range(k):
        chosen[step] = current
        centre = points[current]
        dist = norms - 2.0 * (points @ centre) + norms[current]
        np.minimum(nearest, np.maximum(dist, 0.0), out=nearest)
        nearest[current] = 0.0
        current = int(np.argmax(nearest))
    return chosen, float(np.sqrt(nearest.max()))


def coverage_noise(
    labels: np.ndarray, images: np.ndarray, num_classes: int, rate: float, seed: int
) -> tuple[np.ndarray, dict[str, object]]:
    """Flip ``round(rate * n)`` labels at a farthest-point sample of ``images`` (see module).

    Args:
        labels: clean labels ``[n]`` of the training split.
        images: the training split's images ``[n, ...]`` (pixel space).
        num_classes: classes at the label level; each flip goes to another one, uniformly.
        rate: share of labels to flip.
        seed: the noise seed (start point, then the new classes).

    Returns:
        ``(observed, info)``: the noisy labels and the manifest fields ``coverage_start``
        (the start point's position in the split) and ``coverage_radius``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    start = int(rng.integers(len(labels)))
    chosen, radius = farthest_point_order(
        flat_pixels(images), round_half_up(rate * len(labels)), start
    )
    observed = labels.copy()
    observed[chosen] = flip_to_other_class(labels[chosen], num_classes, rng)
    return observed, {"coverage_start": start, "coverage_radius": radius}


def covering_radius(points: np.ndarray, centres: np.ndarray) -> float:
    """Largest distance from a row of ``points`` to its nearest row of ``points[centres]``."""
    points = np.asarray(points, dtype=np.float64)
    nearest = np.full(len(points), np.inf)
    for c in np.asarray(centres, dtype=np.int64):
        nearest = np.minimum(nearest, ((points - points[c]) ** 2).sum(axis=1))
    return float(np.sqrt(nearest.max()))
