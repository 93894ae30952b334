"""The ball distribution of Theorem 1 (PAPER.md): one class per l_p ball of radius ``rho``.

``num_centres`` centres (the set zeta) lie in ``[rho, 1 - rho]^dim``, at least ``4 * rho``
apart in the chosen norm, so the balls are disjoint and a ``2 * rho`` perturbation of a point
never reaches another ball. Each centre gets a class round-robin; a sample picks a centre
uniformly (each ball has probability ``1 / |zeta|``, so ``c1 = c2 = 1``) and a point uniformly
in its ball. Every point stays inside [0, 1]^dim without clipping.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from benign.data.base import BenignDataModule, RawSplits
from benign.data.coarse import halves_map, halves_names
from benign.data.options import check_positive_int
from benign.errors import ConfigError, check_choice

NORMS: tuple[str, ...] = ("linf", "l2")
SEPARATION = 4.0  # minimum centre distance, in units of rho


def _distances(points: np.ndarray, point: np.ndarray, norm: str) -> np.ndarray:
    diff = np.abs(points - point)
    return diff.max(axis=1) if norm == "linf" else np.sqrt((diff**2).sum(axis=1))


def _no_room(num_centres: int, dim: int, gap: float) -> ConfigError:
    return ConfigError(
        f"cannot place {num_centres} centres {SEPARATION:g}*rho = {gap:g} apart in "
        f"[rho, 1-rho]^{dim}: lower --data.num_centres or --data.rho, or raise --data.dim"
    )


def place_centres(
    num_centres: int, dim: int, rho: float, norm: str, rng: np.random.Generator
) -> np.ndarray:
    """``num_centres`` points of ``[rho, 1 - rho]^dim``, pairwise at least ``4 * rho`` apart.

    Draws uniform candidates and keeps those far enough from the ones kept so far; if that
    stalls (dense packings), falls back to random sites of a jittered grid of spacing
    ``>= 4 * rho``. Raises ``ConfigError`` when not even the grid has room.
    """
    low, high, gap = rho, 1.0 - rho, SEPARATION * rho
    per_axis = int(math.floor((high - low) / gap + 1e-9)) + 1
    grid_fits = per_axis**dim >= num_centres
    if not grid_fits and norm == "linf":  # the grid is the densest linf packing: give up now
        raise _no_room(num_centres, dim, gap)
    kept = np.zeros((0, dim))
    for _ in range(20 * num_centres + 1000):
        candidate = rng.uniform(low, high, dim)
        if len(kept) == 0 or _distances(kept, candidate, norm).min() >= gap:
            kept = np.vstack([kept, candidate])
            if len(kept) == num_centres:
                return kept
    if not grid_fits:
        raise _no_room(num_centres, dim, gap)
    spacing = (high - low) / (per_axis - 1) if per_axis > 1 else 0.0
    sites: set[tuple[int, ...]] = set()
    while len(sites) < num_centres:
        sites.add(tuple(int(v) for v in rng.integers(0, per_axis, dim)))
    grid = low + spacing * np.array(sorted(sites), dtype=np.float64)
    jitter = rng.uniform(-1, 1, grid.shape) * max(spacing - gap, 0.0) / 2
    return np.clip(grid + jitter, low, high)


def sample_in_balls(
    centres: np.ndarray, ball_ids: np.ndarray, rho: float, norm: str, rng: np.random.Generator
) -> np.ndarray:
    """One point drawn uniformly from the l_p ball of radius ``rho`` around each chosen centre."""
    n, dim = len(ball_ids), centres.shape[1]
    if norm == "linf":
        offsets = rng.uniform(-rho, rho, (n, dim))
    else:
        directions = rng.standard_normal((n, dim))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        offsets = directions * (rho * rng.uniform(0, 1, n) ** (1.0 / dim))[:, None]
    return centres[ball_ids] + offsets


class SyntheticDataModule(BenignDataModule):
    """Theorem 1's distribution: disjoint l_p balls of radius ``rho``, one class per ball.

    Args:
        num_centres: number of balls (|zeta|).
        num_classes: number of classes, given to the centres round-robin (<= num_centres).
        dim: input dimension; inputs are float ``[dim]`` vectors in [0, 1].
        rho: ball radius, in (0, 0.25) so that centres fit in ``[rho, 1 - rho]``.
        norm: ``linf`` or ``l2``, the ball's norm (and the natural attack norm).
        num_train: points in the original training set (the validation hold-out comes out of it).
        num_test: test points.
        data_seed: seed of the centres and of the samples (independent of the noise seed).
        **kwargs: the base class's arguments (noise, splits, loaders).

    After ``setup``: ``train_ball``, ``val_ball`` and ``test_ball`` give each point's ball.
    """

    name = "synthetic"
    display_name = "synthetic balls"

    def __init__(
        self,
        *,
        num_centres: int = 20,
        num_classes: int = 2,
        dim: int = 2,
        rho: float = 0.05,
        norm: str = "linf",
        num_train: int = 1000,
        num_test: int = 1000,
        data_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        self.num_centres = check_positive_int("num_centres", num_centres)
        self.dim = check_positive_int("dim", dim)
        self.num_train = check_positive_int("num_train", num_train, minimum=2)
        self.num_test = check_positive_int("num_test", num_test)
        classes = check_positive_int("num_classes", num_classes, minimum=2)
        if classes > self.num_centres:
            raise ConfigError(
                f"num_classes ({classes}) must not exceed num_centres ({self.num_centres}): every "
                "class needs a ball; raise --data.num_centres"
            )
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not 0 < rho < 0.25:
            raise ConfigError(f"rho must be in (0, 0.25), got {rho!r}: pass e.g. --data.rho 0.05")
        self.rho = float(rho)
        self.norm = check_choice("norm", norm, NORMS, fix=" (--data.norm)")
        self.data_seed = int(data_seed)
        self.fine_classes = tuple(str(c) for c in range(classes))
        self.image_shape = (self.dim,)
        self.train_size = self.num_train
        self.coarse_map_presets = {"halves": halves_map(classes)}
        self.coarse_class_names_presets = {"halves": halves_names(classes)}
        self.default_coarse_map = "halves"
        centres = place_centres(
            self.num_centres,
            self.dim,
            self.rho,
            self.norm,
            np.random.default_rng([self.data_seed, 0]),
        )
        #: FloatTensor ``[num_centres, dim]``: the ball centres (zeta).
        self.centres = torch.as_tensor(centres, dtype=torch.float32)
        #: LongTensor ``[num_centres]``: the class of each ball.
        self.centre_classes = torch.arange(self.num_centres) % classes
        self._train_ball_all: Tensor | None = None
        self.test_ball: Tensor | None = None
        super().__init__(**kwargs)

    @property
    def ball_probability(self) -> float:
        """Probability of each ball (``c2 / |zeta|`` with ``c2 = 1``)."""
        return 1.0 / self.num_centres

    def _draw(self, n: int, stream: int) -> tuple[Tensor, Tensor]:
        rng = np.random.default_rng([self.data_seed, stream])
        balls = rng.integers(0, self.num_centres, n)
        points = sample_in_balls(self.centres.double().numpy(), balls, self.rho, self.norm, rng)
        return torch.as_tensor(points, dtype=torch.float32), torch.as_tensor(
            balls, dtype=torch.long
        )

    def _load_raw(self) -> RawSplits:
        train_x, train_ball = self._draw(self.num_train, 1)
        test_x, test_ball = self._draw(self.num_test, 2)
        self._train_ball_all, self.test_ball = train_ball, test_ball
        return RawSplits(
            train_images=train_x,
            train_labels=self.centre_classes[train_ball].numpy(),
            test_images=test_x,
            test_labels=self.centre_classes[test_ball].numpy(),
        )

    @property
    def train_ball(self) -> Tensor:
        """LongTensor ``[N_train]``: the ball of each training-split point (after ``setup``)."""
        if self._train_ball_all is None:
            raise RuntimeError("SyntheticDataModule.setup() has not run yet")
        return self._train_ball_all[self.train_source_indices]

    @property
    def val_ball(self) -> Tensor:
        """LongTensor ``[N_val]``: the ball of each validation point (after ``setup``)."""
        if self._train_ball_all is None or self.val_source_indices is None:
            raise RuntimeError("SyntheticDataModule.setup() has not run yet")
        return self._train_ball_all[self.val_source_indices]
