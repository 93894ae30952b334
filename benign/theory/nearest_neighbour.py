"""The 1-nearest-neighbour rule and its exact adversarial risk (PAPER.md, Theorem 1).

A 1-NN rule fits every training label, so it is the simplest interpolating classifier the
theorem applies to, and its attack can be solved exactly: a test point ``x`` with clean label
``y`` is misclassified at ``x'`` iff the training point nearest to ``x'`` has a label other
than ``y``, i.e. iff ``x'`` lies in the cell of some wrongly labelled point ``z`` against the
points labelled ``y`` (:mod:`benign.theory.cell_distance`). So

    dist*(x) = min over wrongly labelled z of dist(x, cell(z))

is the exact minimal adversarial perturbation, and ``x`` is vulnerable at radius ``eps`` iff
``dist*(x) <= eps``. Perturbed points stay in the input box ([0, 1]^d), as for PGD.

Two facts keep this cheap. A witness is exact: if the 1-NN label at a point ``x'`` of the ball is
wrong, ``x`` is vulnerable (every ``z`` within ``eps`` is such a witness, at ``x' = z``). And by
the triangle inequality a wrong ``z`` can only win inside the ``eps``-ball if
``||x - z|| <= d_right(x) + 2 eps``, where ``d_right`` is the distance to the nearest correctly
labelled point. Only pairs left undecided by both go to the exact solver.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from benign.theory.cell_distance import TOL, blocked, cell_distance, linf_boxes_blocked, norm_of

_METRIC = {"linf": "chebyshev", "l2": "euclidean"}


def pairwise_distances(a: np.ndarray, b: np.ndarray, norm: str) -> np.ndarray:
    """``[len(a), len(b)]`` distances in ``linf`` or ``l2``."""
    if norm not in _METRIC:
        raise ValueError(f"unknown norm {norm!r}; expected 'linf' or 'l2'")
    return cdist(np.asarray(a, np.float64), np.asarray(b, np.float64), metric=_METRIC[norm])


class NearestNeighbour:
    """The 1-NN rule in the ``linf`` or ``l2`` norm: ``fit(x, y)``, ``predict(x)``."""

    def __init__(self, norm: str = "linf") -> None:
        if norm not in _METRIC:
            raise ValueError(f"unknown norm {norm!r}; expected 'linf' or 'l2'")
        self.norm = norm

    def fit(self, x: np.ndarray, y: np.ndarray) -> NearestNeighbour:
        self.x_ = np.asarray(x, np.float64)
        self.y_ = np.asarray(y)
        return self

    def predict(self, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """The label of the nearest training point of each row of ``x``."""
        x = np.asarray(x, np.float64)
        out = np.empty(len(x), dtype=self.y_.dtype)
        for start in range(0, len(x), chunk):
            d = pairwise_distances(x[start : start + chunk], self.x_, self.norm)
            out[start : start + chunk] = self.y_[d.argmin(axis=1)]
        return out

    def vulnerable(
        self, x: np.ndarray, y: np.ndarray, eps: float, box: tuple[float, float] = (0.0, 1.0)
    ) -> np.ndarray:
        """BoolArray: whether each ``(x, y)`` can be misclassified within ``eps`` (exact)."""
        return vulnerable(self.x_, self.y_, x, y, eps, self.norm, box)

    def min_adversarial_distance(
        self, x: np.ndarray, y: np.ndarray, box: tuple[float, float] = (0.0, 1.0)
    ) -> np.ndarray:
        """The exact smallest perturbation that misclassifies each ``(x, y)`` (0 if it already is)."""
        return min_adversarial_distance(self.x_, self.y_, x, y, self.norm, box)


def vulnerable(
    train_x: np.ndarray,
    train_y: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    eps: float,
    norm: str,
    box: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """Exact: can 1-NN on ``(train_x, train_y)`` be made to mislabel ``x`` within ``eps``?"""
    train_x, x = np.asarray(train_x, np.float64), np.asarray(x, np.float64)
    train_y, y = np.asarray(train_y), np.asarray(y)
    rule = NearestNeighbour(norm).fit(train_x, train_y)
    out = np.zeros(len(x), dtype=bool)
    for index in range(len(x)):
        out[index] = _is_vulnerable(rule, x[index], y[index], eps, box)
    return out


def _is_vulnerable(
    rule: NearestNeighbour, x: np.ndarray, y: object, eps: float, box: tuple[float, float]
) -> bool:
    dist = norm_of(rule.x_ - x, rule.norm)
    wrong = rule.y_ != y
    if not wrong.any():
        return False
    if not (~wrong).any():
        return True
    d_right = dist[~wrong].min()
    if dist[wrong].min() < d_right:
        return True  # misclassified without any perturbation
    candidates = np.flatnonzero(wrong & (dist <= d_right + 2 * eps + TOL))
    if len(candidates) == 0:
        return False
    candidates = candidates[np.argsort(dist[candidates])]
    witnesses = _closest_in_ball(x, rule.x_[candidates], eps, rule.norm)
    if np.any(rule.predict(witnesses) != y):
        return True
    if np.any(rule.predict(_ball_probes(x, eps, rule.norm, box)) != y):
        return True
    rights = rule.x_[~wrong]
    right_dist = dist[~wrong]
    for j in candidates:
        relevant = rights[right_dist <= dist[j] + 2 * eps + TOL]
        if blocked(x, rule.x_[j], relevant, eps, rule.norm, box):
            continue
        if rule.norm == "linf":
            found = _linf_search(rule, y, rule.x_[j], relevant, x, eps, box)
            if found is not None:
                if found:
                    return True
                continue
        if cell_distance(x, rule.x_[j], relevant, rule.norm, box, cutoff=eps) <= eps + TOL:
            return True
    return False


def _linf_search(
    rule: NearestNeighbour,
    y: object,
    z: np.ndarray,
    rights: np.ndarray,
    x: np.ndarray,
    eps: float,
    box: tuple[float, float],
    max_boxes: int = 4096,
) -> bool | None:
    """Branch and bound over sub-boxes of the linf ball: drop boxes a single right point blocks
    (:func:`linf_boxes_blocked`), look for a witness in the others, halve them and repeat.
    True: a witness was found; False: every box is blocked; None: undecided within budget."""
    lo = np.maximum(x - eps, box[0])[None]
    hi = np.minimum(x + eps, box[1])[None]
    while len(lo):
        keep = ~linf_boxes_blocked(z, rights, lo, hi)
        lo, hi = lo[keep], hi[keep]
        if not len(lo):
            return False
        probes = np.concatenate([np.clip(z, lo, hi), (lo + hi) / 2])
        if np.any(rule.predict(probes) != y):
            return True
        if 2 * len(lo) > max_boxes:
            return None
        axis = np.argmax(hi - lo, axis=1)
        middle = (lo[np.arange(len(lo)), axis] + hi[np.arange(len(lo)), axis]) / 2
        upper_lo, lower_hi = lo.copy(), hi.copy()
        upper_lo[np.arange(len(lo)), axis] = middle
        lower_hi[np.arange(len(lo)), axis] = middle
        lo, hi = np.concatenate([lo, upper_lo]), np.concatenate([lower_hi, hi])
    return False


def _closest_in_ball(x: np.ndarray, points: np.ndarray, eps: float, norm: str) -> np.ndarray:
    """The point of the ``eps``-ball around ``x`` closest to each of ``points`` (in the box,
    since the segment between two points of a box stays in it)."""
    if norm == "linf":
        return np.clip(points, x - eps, x + eps)
    diff = points - x
    length = np.sqrt((diff**2).sum(axis=1, keepdims=True))
    scale = np.minimum(1.0, eps / np.maximum(length, 1e-300))
    return x + diff * scale


def _ball_probes(x: np.ndarray, eps: float, norm: str, box: tuple[float, float]) -> np.ndarray:
    """A fixed spread of points of the ``eps``-ball around ``x`` (in the box), to look for
    witnesses before calling the exact solver: a regular grid in 2-D, random points above."""
    d, rng = len(x), np.random.default_rng(0)
    if d <= 2:
        axis = np.linspace(-1.0, 1.0, 15)
        unit = np.stack(np.meshgrid(*[axis] * d), axis=-1).reshape(-1, d)
    else:
        unit = rng.uniform(-1.0, 1.0, (256, d))
    if norm == "l2":
        lengths = np.sqrt((unit**2).sum(axis=1))
        unit = unit[lengths <= 1.0]
    return np.clip(x + eps * unit, *box)


def min_adversarial_distance(
    train_x: np.ndarray,
    train_y: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    norm: str,
    box: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """Exact ``dist*`` of each test point: the smallest perturbation (in ``norm``, staying in
    ``box``) after which 1-NN on ``(train_x, train_y)`` mislabels it; 0 if it already does,
    ``inf`` if no training point has another label."""
    train_x, x = np.asarray(train_x, np.float64), np.asarray(x, np.float64)
    train_y, y = np.asarray(train_y), np.asarray(y)
    out = np.empty(len(x))
    for index in range(len(x)):
        dist = norm_of(train_x - x[index], norm)
        wrong = train_y != y[index]
        if not wrong.any():
            out[index] = np.inf
            continue
        if not (~wrong).any() or dist[wrong].min() < dist[~wrong].min():
            out[index] = 0.0
            continue
        d_right = dist[~wrong].min()
        best = dist[wrong].min()  # x' = z itself is a witness
        # cell(z) is at least (||x - z|| - d_right) / 2 away (triangle inequality)
        lower = (dist - d_right) / 2
        for j in np.flatnonzero(wrong)[np.argsort(lower[wrong])]:
            if lower[j] >= best:
                break
            relevant = train_x[~wrong][dist[~wrong] <= dist[j] + 2 * best + TOL]
            if blocked(x[index], train_x[j], relevant, best, norm, box):
                continue
            best = min(best, cell_distance(x[index], train_x[j], relevant, norm, box, best))
        out[index] = best
    return out
