"""Exact distance from a point to the nearest-neighbour cell of a training point.

For a 1-nearest-neighbour rule, the region where a wrongly labelled training point ``z`` wins
against the correctly labelled points ``R`` (the test point's class) is its cell

    C(z, R) = {x' in box : ||x' - z|| <= ||x' - r|| for every r in R}.

A test point ``x`` can be pushed onto ``z``'s label within radius ``eps`` iff some such cell
meets the ``eps``-ball around ``x`` (PAPER.md, Theorem 1: the attack on an interpolating
classifier). ``cell_distance`` computes ``min ||x' - x||`` over ``C(z, R)`` exactly:

- **l2**: the cell is a polytope (half-spaces ``2 (r - z) . x' <= ||r||^2 - ||z||^2``), so the
  distance is a convex quadratic programme, solved by SLSQP from the feasible start ``z``.
- **linf**: ``||x' - r||_inf >= t`` is a disjunction over coordinates and signs, so the cell
  is not convex; the distance is a mixed-integer linear programme (HiGHS through
  ``scipy.optimize.milp``) with one binary per (point, coordinate, sign).

Both use constraint generation: solve with a few points of ``R``, check the solution against
all of them, add the ones it violates and solve again. A relaxation's optimum is a lower bound,
so the loop stops early once it exceeds ``cutoff`` (the attack radius); a solution that
satisfies every constraint is the exact optimum.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp, minimize

#: Feasibility tolerance of the solvers' answers, in input units.
TOL = 1e-7
_START = 8  # points of R in the first relaxation
_ADD = 8  # violated points added per round


def norm_of(diff: np.ndarray, norm: str) -> np.ndarray:
    """``||diff||`` along the last axis in ``linf`` or ``l2``."""
    if norm == "linf":
        return np.abs(diff).max(axis=-1)
    if norm == "l2":
        return np.sqrt((diff**2).sum(axis=-1))
    raise ValueError(f"unknown norm {norm!r}; expected 'linf' or 'l2'")


def cell_distance(
    x: np.ndarray,
    z: np.ndarray,
    rights: np.ndarray,
    norm: str,
    box: tuple[float, float] = (0.0, 1.0),
    cutoff: float = np.inf,
) -> float:
    """``min ||x' - x||`` over ``x'`` in ``box`` no farther from ``z`` than from any row of
    ``rights``; a value above ``cutoff`` may be returned as any lower bound above it.

    ``z`` must lie in ``box`` (it is a training point), so the cell is never empty.
    """
    x, z = np.asarray(x, np.float64), np.asarray(z, np.float64)
    rights = np.asarray(rights, np.float64).reshape(-1, len(x))
    if len(rights) == 0:
        return 0.0
    order = np.argsort(np.minimum(norm_of(rights - x, norm), norm_of(rights - z, norm)))
    active = list(order[:_START])
    solve = _solve_l2 if norm == "l2" else _solve_linf
    while True:
        point, distance = solve(x, z, rights[active], box)
        if distance > cutoff + TOL:
            return distance
        gap = norm_of(rights - point, norm) - norm_of(point - z, norm)
        violated = [i for i in np.argsort(gap) if gap[i] < -10 * TOL and i not in set(active)]
        if not violated:
            return distance
        active.extend(violated[:_ADD])


def blocked(
    x: np.ndarray,
    z: np.ndarray,
    rights: np.ndarray,
    eps: float,
    norm: str,
    box: tuple[float, float] = (0.0, 1.0),
) -> bool:
    """Cheap exact test that ``cell(z, rights)`` misses the ``eps``-ball around ``x``: true if a
    single right point ``r`` is closer than ``z`` to every point of the ball (a relaxation of
    :func:`cell_distance` with one constraint, solved in closed form)."""
    rights = np.asarray(rights, np.float64).reshape(-1, len(x))
    if len(rights) == 0:
        return False
    if norm == "l2":  # half-space a . x' <= b against the ball (the box only shrinks it)
        a = 2.0 * (rights - z)
        b = (rights**2).sum(axis=1) - (z**2).sum()
        reach = a @ x - eps * np.sqrt((a**2).sum(axis=1))
        return bool(np.any(reach > b + TOL))
    lo, hi = np.maximum(x - eps, box[0]), np.minimum(x + eps, box[1])
    return bool(linf_boxes_blocked(z, rights, lo[None], hi[None])[0])


def linf_boxes_blocked(
    z: np.ndarray, rights: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """BoolArray over boxes ``[lo_b, hi_b]`` (arrays ``[B, d]``): true where a single right point
    is strictly closer (linf) than ``z`` to every point of the box, so ``cell(z)`` misses it.

    For one right point ``r`` this asks whether ``max over the box of ||x' - r|| - ||x' - z||``
    is negative; ``||x' - r|| = max_{k, s} s (x'_k - r_k)``, and for each (k, s) the best ``x'``
    keeps its other coordinates as close to ``z`` as the box allows, leaving a concave 1-D
    problem in ``v = x'_k`` whose maximum is at one of four breakpoints.
    """
    gap = np.abs(np.clip(z, lo, hi) - z)  # [B, d]: how close the box gets to z, per coordinate
    d = len(z)
    best = np.full((len(lo), len(rights)), -np.inf)
    for k in range(d):
        c = np.delete(gap, k, axis=1).max(axis=1) if d > 1 else np.zeros(len(lo))  # [B]
        v = np.stack([lo[:, k], hi[:, k], z[k] - c, z[k] + c], axis=1)
        v = np.clip(v, lo[:, k : k + 1], hi[:, k : k + 1])  # [B, 4]
        dz = np.maximum(np.abs(v - z[k]), c[:, None])
        for s in (1.0, -1.0):
            value = s * (v[:, None, :] - rights[None, :, k, None]) - dz[:, None, :]
            best = np.maximum(best, value.max(axis=2))
    return np.any(best < -TOL, axis=1)


def _solve_l2(
    x: np.ndarray, z: np.ndarray, rights: np.ndarray, box: tuple[float, float]
) -> tuple[np.ndarray, float]:
    a = 2.0 * (rights - z)  # a . x' <= b  <=>  ||x' - z|| <= ||x' - r||
    b = (rights**2).sum(axis=1) - (z**2).sum()
    result = minimize(
        lambda p: float(((p - x) ** 2).sum()),
        z.copy(),
        jac=lambda p: 2.0 * (p - x),
        method="SLSQP",
        bounds=[box] * len(x),
        constraints=[{"type": "ineq", "fun": lambda p: b - a @ p, "jac": lambda p: -a}],
        options={"ftol": 1e-14, "maxiter": 500},
    )
    point = np.clip(result.x, *box)
    if np.any(a @ point - b > 1e-6):  # SLSQP gave up: fall back to the feasible start
        point = z.copy()
    return point, float(np.sqrt(((point - x) ** 2).sum()))


def _solve_linf(
    x: np.ndarray, z: np.ndarray, rights: np.ndarray, box: tuple[float, float]
) -> tuple[np.ndarray, float]:
    """Variables ``[x' (d), u, t, b (n * d * 2)]``: minimise ``u >= ||x' - x||``, with
    ``t >= ||x' - z||`` and, for every right point, one active (coordinate, sign) with
    ``s (x'_k - r_k) >= t``."""
    d, n = len(x), len(rights)
    big = 2.0 * (box[1] - box[0]) + 1.0
    nv = d + 2 + 2 * n * d
    rows, lows, highs = [], [], []

    def add(coeffs: dict[int, float], low: float, high: float) -> None:
        row = np.zeros(nv)
        for index, value in coeffs.items():
            row[index] = value
        rows.append(row)
        lows.append(low)
        highs.append(high)

    u, t = d, d + 1
    for k in range(d):
        add({k: 1.0, u: -1.0}, -np.inf, x[k])  # x'_k - x_k <= u
        add({k: -1.0, u: -1.0}, -np.inf, -x[k])  # x_k - x'_k <= u
        add({k: 1.0, t: -1.0}, -np.inf, z[k])  # x'_k - z_k <= t
        add({k: -1.0, t: -1.0}, -np.inf, -z[k])  # z_k - x'_k <= t
    for i in range(n):
        picks = {}
        for k in range(d):
            for j, s in enumerate((1.0, -1.0)):
                bvar = d + 2 + (i * d + k) * 2 + j
                picks[bvar] = 1.0
                # s (x'_k - r_ik) >= t - big (1 - b)
                add({k: s, t: -1.0, bvar: -big}, s * rights[i, k] - big, np.inf)
        add(picks, 1.0, np.inf)
    lower = np.concatenate([np.full(d, box[0]), [0.0, 0.0], np.zeros(2 * n * d)])
    upper = np.concatenate([np.full(d, box[1]), [np.inf, np.inf], np.ones(2 * n * d)])
    cost = np.zeros(nv)
    cost[u] = 1.0
    integrality = np.concatenate([np.zeros(d + 2), np.ones(2 * n * d)])
    result = milp(
        cost,
        constraints=LinearConstraint(np.array(rows), lows, highs),
        integrality=integrality,
        bounds=Bounds(lower, upper),
        options={"mip_rel_gap": 0.0},
    )
    if result.x is None:  # cannot happen (x' = z is feasible); keep the trivial witness
        return z.copy(), float(np.abs(z - x).max())
    point = np.clip(result.x[:d], *box)
    return point, float(np.abs(point - x).max())
