"""Geometry shared by the attacks: eps-balls, the [0, 1] box, and steepest-ascent directions.

All helpers are pure functions on a batch (dimension 0 indexes examples), work on any input shape
and keep the input's dtype and memory format (e.g. ``channels_last``).
"""

from __future__ import annotations

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


def random_in_ball(x: Tensor, eps: float, norm: str) -> Tensor:
    """A perturbation drawn uniformly from the ``norm`` ball of radius ``eps``, shaped like ``x``.

    linf: independent uniform coordinates in ``[-eps, eps]`` (Madry et al. 2018). l2: a Gaussian
    direction scaled by ``eps * U ** (1 / d)`` with ``d`` the input dimension, which is uniform in
    the volume of the ball.
    """
    if norm == "linf":
        return torch.empty_like(x).uniform_(-eps, eps)
    if norm == "l2":
        direction = torch.randn_like(x)
        direction = direction / l2_norm(direction).clamp_min(_TINY)
        d = x[0].numel()
        radius = torch.rand(_per_example_shape(x), device=x.device, dtype=x.dtype) ** (1.0 / d)
        return direction * (eps * radius)
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
