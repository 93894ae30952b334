"""Geometry shared by the attacks: eps-balls, the [0, 1] box, and steepest-ascent directions.

All helpers are pure functions on a batch (dimension 0 indexes examples), work on any input shape
and keep the input's dtype and memory format (e.g. ``channels_last``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch
from torch import Tensor

# Guards divisions by a norm that may be zero (a zero gradient, a zero perturbation).
_TINY = 1e-12


def _per_example_shape(t: Tensor) -> tuple[int, ...]:
    return (t.shape[0],) + (1,) * (t.dim() - 1)


def l2_norm(t: Tensor) -> Tensor:
    """The l2 norm of each example of ``t``, shaped ``[B, 1, ..., 1]`` to broadcast against ``t``."""
    dims = tuple(range(1, t.dim()))
    return torch.linalg.vector_norm(t, ord=2, dim=dims).view(_per_example_shape(t))


def project(delta: Tensor, eps: float, norm: str) -> Tensor:
    """Project each example of a perturbation ``delta`` onto the ``norm`` ball of radius ``eps``.

    ``linf`` clips every coordinate to ``[-eps, eps]``; ``l2`` rescales examples whose l2 norm
    exceeds ``eps`` to norm ``eps`` (the Euclidean projection onto the ball) and leaves the others
    unchanged.
    """
    if norm == "linf":
        return delta.clamp(-eps, eps)
    if norm == "l2":
        factor = (eps / l2_norm(delta).clamp_min(_TINY)).clamp_max(1.0)
        return delta * factor.to(delta.dtype)
    raise ValueError(f"unknown norm {norm!r}; expected 'linf' or 'l2'")


def clamp_to_box(x: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    """Clip inputs to the valid pixel box ``[low, high]`` (``[0, 1]`` by default)."""
    return x.clamp(low, high)


def linf_bounds(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Per-coordinate bounds of the intersection of the linf ball around ``x`` and ``[0, 1]``.

    Clamping to ``(low, high)`` is then the exact projection onto the feasible set in one step.
    """
    return (x - eps).clamp_min(0.0), (x + eps).clamp_max(1.0)


def feasible(x: Tensor, x_adv: Tensor, eps: float, norm: str) -> Tensor:
    """Return the point of the eps-ball around ``x`` intersected with ``[0, 1]`` nearest ``x_adv``.

    For linf this is the exact projection. For l2, projecting onto the ball and then clipping to
    the box stays inside both, because clipping (with ``x`` in the box) only shrinks each
    coordinate of the perturbation.
    """
    if norm == "linf":
        low, high = linf_bounds(x, eps)
        return torch.clamp(x_adv, min=low, max=high)
    return clamp_to_box(x + project(x_adv - x, eps, norm))


#: Per-example seeds of the random starts drawn inside :func:`per_example_randomness`, and how
#: many draws were made in it so far (each restart draws anew).
_EXAMPLE_SEEDS: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "benign_example_seeds", default=None
)


@contextlib.contextmanager
def per_example_randomness(seeds: Tensor) -> Iterator[None]:
    """Draw the random starts of example ``j`` of the next batches from its own generator,
    seeded with ``seeds[j]`` (and the draw's number), instead of torch's global generator.

    An evaluation that passes each point's index (plus a base seed) then attacks every point
    with the same random starts whatever the batch it is in: the same robust accuracy from 1 or
    N DDP ranks, any batch size.
    """
    token = _EXAMPLE_SEEDS.set([seeds.detach().cpu().long().tolist(), 0])
    try:
        yield
    finally:
        _EXAMPLE_SEEDS.reset(token)


@contextlib.contextmanager
def subset_randomness(rows: Tensor, salt: int) -> Iterator[None]:
    """Inside :func:`per_example_randomness`, draw for the examples ``rows`` of the current batch
    only, from seeds derived from theirs and ``salt``, with a fresh draw count.

    An attack run on a subset of the batch (the points an ensemble has not broken yet) wraps
    it in this, with a ``salt`` naming the stage: a point then gets the same random starts
    whichever other points of its batch reached that stage. Outside, it does nothing.
    """
    context = _EXAMPLE_SEEDS.get()
    if context is None:
        yield
        return
    parents = context[0]
    seeds = [(int(parents[r]) * 1_000_033 + 7_919 * (salt + 1)) % 2**62 for r in rows.tolist()]
    token = _EXAMPLE_SEEDS.set([seeds, 0])
    try:
        yield
    finally:
        _EXAMPLE_SEEDS.reset(token)


def _example_noise(x: Tensor, kind: str) -> Tensor | None:
    """Inside :func:`per_example_randomness`: ``uniform`` [0, 1) or ``normal`` noise shaped like
    ``x``, example ``j`` from its own generator; else ``None`` (use the global generator)."""
    context = _EXAMPLE_SEEDS.get()
    if context is None or len(context[0]) != x.shape[0]:
        return None
    seeds, calls = context
    context[1] += 1
    sample = torch.rand if kind == "uniform" else torch.randn
    generator = torch.Generator()
    rows = []
    for seed in seeds:
        generator.manual_seed((int(seed) * 1_000_003 + calls) % 2**63)
        rows.append(sample(x.shape[1:], generator=generator, dtype=torch.float32))
    return torch.stack(rows).to(device=x.device, dtype=x.dtype)


def random_in_ball(x: Tensor, eps: float, norm: str) -> Tensor:
    """A perturbation drawn uniformly from the ``norm`` ball of radius ``eps``, shaped like ``x``.

    linf: independent uniform coordinates in ``[-eps, eps]`` (Madry et al. 2018). l2: a Gaussian
    direction scaled by ``eps * U ** (1 / d)`` with ``d`` the input dimension, which is uniform in
    the volume of the ball. Drawn from torch's global generator, or per example inside
    :func:`per_example_randomness`.
    """
    if norm == "linf":
        uniform = _example_noise(x, "uniform")
        if uniform is None:
            return torch.empty_like(x).uniform_(-eps, eps)
        return (2 * uniform - 1) * eps
    if norm == "l2":
        direction = _example_noise(x, "normal")
        direction = torch.randn_like(x) if direction is None else direction
        direction = direction / l2_norm(direction).clamp_min(_TINY)
        d = x[0].numel()
        uniform = _example_noise(x, "uniform")
        if uniform is None:
            radius = torch.rand(_per_example_shape(x), device=x.device, dtype=x.dtype)
        else:
            radius = uniform.flatten(1)[:, 0].view(_per_example_shape(x))
        return direction * (eps * radius ** (1.0 / d))
    raise ValueError(f"unknown norm {norm!r}; expected 'linf' or 'l2'")


def ascent_direction(grad: Tensor, norm: str) -> Tensor:
    """The steepest-ascent direction of unit ``norm`` for a gradient ``grad``.

    linf: ``sign(grad)`` (FGSM, Goodfellow et al. 2015). l2: ``grad / ||grad||_2`` per example.
    A zero gradient gives a zero direction, and non-finite entries (a model with NaN/inf input
    gradients) count as zero, so the attack stays put instead of returning NaNs outside the box.
    """
    grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
    if norm == "linf":
        return grad.sign_()  # in place on nan_to_num's fresh copy
    if norm == "l2":
        return grad / l2_norm(grad).clamp_min(_TINY)
    raise ValueError(f"unknown norm {norm!r}; expected 'linf' or 'l2'")


def ascent_step(x: Tensor, grad: Tensor, alpha: float, norm: str) -> Tensor:
    """``x + alpha * ascent_direction(grad, norm)`` in one fused kernel (``torch.add`` with
    ``alpha``), for the attack loops."""
    return torch.add(x, ascent_direction(grad, norm), alpha=alpha)
