"""Claims 2 and 3 of PAPER.md simulated: the representation decides robustness.

Every model here is the *same* simple classifier, a logistic regression (weak L2 penalty, so it
fits whatever its features can separate), on top of a different feature map of 2-D inputs in
[0, 1]^2. Each feature map is a fixed function of the input, so the model is a function of the
input and its robust accuracy in the linf ball (and the [0, 1] box) is computed *exactly*:

- ``raw``: ``phi(x) = x``; the decision ``w . x + b`` is linear in the input.
- ``standardized``: ``phi(x) = (x - mean) / std`` (scikit-learn's StandardScaler, fitted on the
  training inputs): still linear in the input, but the classifier's margin is now measured in
  units of each feature's spread, so a feature with a tiny spread and a tiny gap counts as much as
  one with a wide gap (Claim 2).
- ``raw+cells``: ``phi(x) = [x, one-hot of the grid cell of x]``, cells of side ``h`` smaller than
  half the linf distance between any two differently labelled training points, one indicator per
  cell that holds a training point: a memorising representation. The decision is the linear rule
  plus one constant per occupied cell, so fitting a flipped label changes the prediction only on
  that tiny cell: the interpolator of Claim 3 (b) ("the clean rule everywhere except tiny
  neighbourhoods around the flipped training points").
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.spatial.distance import cdist
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from benign.theory.balls import bernoulli_flips, interpolation_floor

REPRESENTATIONS = ("raw", "standardized", "raw+cells")


class RepresentationClassifier:
    """Logistic regression on one of :data:`REPRESENTATIONS`, with exact linf robustness.

    Args:
        representation: the feature map.
        C: inverse L2 penalty of the logistic regression (large: fit the features as well as
            they allow).
        max_cell: the largest grid cell side of ``raw+cells``.
    """

    def __init__(self, representation: str, C: float = 1e4, max_cell: float = 0.01) -> None:
        if representation not in REPRESENTATIONS:
            raise ValueError(f"unknown representation {representation!r}; use {REPRESENTATIONS}")
        self.representation, self.C, self.max_cell = representation, C, max_cell

    # -- features -------------------------------------------------------------------------
    def _cells(self, x: np.ndarray) -> np.ndarray:
        return np.floor(x / self.cell_).astype(np.int64)

    def features(self, x: np.ndarray) -> np.ndarray | sparse.csr_matrix:
        """``phi(x)``."""
        if self.representation == "raw":
            return x
        if self.representation == "standardized":
            return self.scaler_.transform(x)
        columns = np.array([self.vocabulary_.get(tuple(c), -1) for c in self._cells(x)])
        rows = np.flatnonzero(columns >= 0)
        onehot = sparse.csr_matrix(
            (np.ones(len(rows)), (rows, columns[rows])), shape=(len(x), len(self.vocabulary_))
        )
        return sparse.hstack([sparse.csr_matrix(x), onehot]).tocsr()

    def fit(self, x: np.ndarray, y: np.ndarray) -> RepresentationClassifier:
        x, y = np.asarray(x, np.float64), np.asarray(y)
        if self.representation == "standardized":
            self.scaler_ = StandardScaler().fit(x)
        if self.representation == "raw+cells":
            classes = [x[y == label] for label in np.unique(y)]
            closest = min(
                (
                    cdist(a, b, "chebyshev").min()
                    for i, a in enumerate(classes)
                    for b in classes[i + 1 :]
                ),
                default=np.inf,
            )
            self.cell_ = min(self.max_cell, closest / 2)
            occupied = sorted({tuple(c) for c in self._cells(x)})
            self.vocabulary_ = {cell: i for i, cell in enumerate(occupied)}
            self.cell_ids_ = np.array(occupied, dtype=np.int64).reshape(-1, x.shape[1])
        self.model_ = LogisticRegression(C=self.C, max_iter=20_000, tol=1e-8)
        self.model_.fit(self.features(x), y)
        # the decision in input space: w . x + b (+ the weight of the cell of x)
        coef, b = self.model_.coef_[0], float(self.model_.intercept_[0])
        if self.representation == "standardized":
            w = coef / self.scaler_.scale_
            b -= float((coef * self.scaler_.mean_ / self.scaler_.scale_).sum())
        else:
            w = coef[: x.shape[1]]
        self.w_, self.b_ = w, b
        self.cell_weights_ = coef[x.shape[1] :] if self.representation == "raw+cells" else None
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model_.predict(self.features(np.asarray(x, np.float64)))

    # -- exact robustness -------------------------------------------------------------------
    def robust(self, x: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
        """BoolArray: correct on the whole linf ``eps``-ball around each point (in [0, 1]^d)."""
        x, y = np.asarray(x, np.float64), np.asarray(y)
        sign = np.where(y == self.model_.classes_[1], 1.0, -1.0)
        lo, hi = np.clip(x - eps, 0, 1), np.clip(x + eps, 0, 1)
        linear = self._linear_min(sign, lo, hi)
        if self.cell_weights_ is None:
            return linear > 0
        return np.array([self._cells_robust(s, a, b) for s, a, b in zip(sign, lo, hi, strict=True)])

    def _linear_min(self, sign: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """``min over [lo, hi] of sign * (w . x' + b)``, per row (a corner of the box)."""
        signed = sign[:, None] * self.w_[None, :]
        return (np.minimum(signed * lo, signed * hi)).sum(axis=1) + sign * self.b_

    def _cells_robust(self, sign: float, lo: np.ndarray, hi: np.ndarray) -> bool:
        """Exact for ``raw+cells``: the minimum over the box of the decision (times ``sign``) is
        over the occupied cells it meets (linear part + cell weight) and the rest of the box."""
        first, last = self._cells(lo[None])[0], self._cells(hi[None])[0]
        inside = np.flatnonzero(
            np.all((self.cell_ids_ >= first) & (self.cell_ids_ <= last), axis=1)
        )
        cells = self.cell_ids_[inside]
        c_lo = np.maximum(lo, cells * self.cell_)
        c_hi = np.minimum(hi, (cells + 1) * self.cell_)
        values = self._linear_min(np.full(len(cells), sign), c_lo, c_hi)
        if np.any(values + sign * self.cell_weights_[inside] <= 0):
            return False
        if self._linear_min(np.array([sign]), lo[None], hi[None])[0] > 0:
            return True
        # The linear part alone fails somewhere in the box: robust only if occupied cells cover
        # all of that part. The linear part grows with a cell's offset from the box's minimising
        # corner, so the worst free cell has offsets at most (number of occupied cells) per axis.
        down = sign * self.w_ < 0  # the minimising corner is on the high side of these axes
        reach = np.minimum(last - first, len(cells))
        axes = [np.arange(r + 1) for r in reach]
        offsets = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(lo))
        grid = np.where(down, last - offsets, first + offsets)
        taken = {tuple(c) for c in cells}
        grid = grid[[tuple(c) not in taken for c in grid]]
        g_lo = np.maximum(lo, grid * self.cell_)
        g_hi = np.minimum(hi, (grid + 1) * self.cell_)
        free = self._linear_min(np.full(len(grid), sign), g_lo, g_hi)
        return bool(len(free) == 0 or free.min() > 0)


def two_signal(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Claim 2's data, clean labels: ``x_0`` separates the classes with a wide gap (0.4 to 0.6),
    ``x_1`` separates them too, with a tiny spread and a tiny gap (0.492 to 0.508)."""
    y = rng.integers(0, 2, n)
    s = 2.0 * y - 1.0
    x0 = 0.5 + s * rng.uniform(0.1, 0.45, n)
    x1 = 0.5 + s * rng.uniform(0.008, 0.012, n)
    return np.stack([x0, x1], axis=1), y


def noisy_slab(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Claim 3's data: the class is the side of ``x_0 = 0.5`` (gap 0.4 to 0.6), ``x_1`` is
    uninformative; labels are clean (training noise is added by the caller)."""
    y = rng.integers(0, 2, n)
    x0 = 0.5 + (2.0 * y - 1.0) * rng.uniform(0.1, 0.45, n)
    return np.stack([x0, rng.uniform(0.05, 0.95, n)], axis=1), y


def _scores(
    model: RepresentationClassifier,
    x: np.ndarray,
    y_fit: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    eps: list[float],
) -> dict[tuple[str, float | None], float]:
    scores: dict[tuple[str, float | None], float] = {
        ("train_error", None): float(np.mean(model.predict(x) != y_fit)),
        ("acc", None): float(np.mean(model.predict(x_test) == y_test)),
    }
    for radius in eps:
        scores[("robust_acc", radius)] = float(model.robust(x_test, y_test, radius).mean())
    return scores


def simulate_claims(
    seed: int,
    num_train: int = 1000,
    num_test: int = 2000,
    noise_rate: float = 0.2,
    eps: list[float] | tuple[float, ...] = (0.0, 0.01, 0.02, 0.05, 0.1),
    C: float = 1e4,
    max_cell: float = 0.01,
) -> list[dict[str, object]]:
    """One draw of both simulations; a list of ``{data, representation, noise_rate, metric, eps,
    value}``.

    - ``two-signal`` (Claim 2, clean labels): ``raw`` vs ``standardized``.
    - ``noisy-slab`` (Claim 3, labels flipped independently at ``noise_rate``): ``raw`` vs
      ``raw+cells``, and ``any-interpolator``'s ``robust_acc_ceiling``: one minus the share of
      test points within ``eps`` of a training point whose noisy label differs from theirs,
      which every classifier with zero training error misclassifies (Claim 3 (c)).
    """
    eps = [float(e) for e in eps]
    rng = np.random.default_rng([seed, 6])
    rows: list[dict[str, object]] = []

    def add(data: str, representation: str, rate: float, scores: dict) -> None:
        for (metric, radius), value in scores.items():
            rows.append(
                dict(data=data, representation=representation, noise_rate=rate, metric=metric,
                     eps=radius, value=value)
            )  # fmt: skip

    x, y = two_signal(num_train, rng)
    x_test, y_test = two_signal(num_test, rng)
    for name in ("raw", "standardized"):
        model = RepresentationClassifier(name, C=C, max_cell=max_cell).fit(x, y)
        add("two-signal", name, 0.0, _scores(model, x, y, x_test, y_test, eps))

    x, y = noisy_slab(num_train, rng)
    observed, _ = bernoulli_flips(y, noise_rate, 2, rng)
    x_test, y_test = noisy_slab(num_test, rng)
    for name in ("raw", "raw+cells"):
        model = RepresentationClassifier(name, C=C, max_cell=max_cell).fit(x, observed)
        add("noisy-slab", name, noise_rate, _scores(model, x, observed, x_test, y_test, eps))
    ceiling = {
        ("robust_acc_ceiling", radius): 1.0
        - float(interpolation_floor(x, observed, x_test, y_test, radius, "linf").mean())
        for radius in eps
    }
    add("noisy-slab", "any-interpolator", noise_rate, ceiling)
    return rows
