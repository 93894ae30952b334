"""Three measures of how complex a classifier's decision boundary is near the data (E7).

PAPER.md, E7 (Sanyal et al., ICLR 2021, Sec. 4): even on clean labels AT and TRADES are more
robust than ERM, and the paper attributes it to their more complex decision boundaries. These
functions measure the boundary of any ``model`` (logits ``[B, K]`` for inputs in ``[0, 1]``):

* :func:`segment_changes`: along the straight segment between two test points, how many times
  the predicted class changes (evaluated at ``steps + 1`` evenly spaced points, ends included).
  A linear classifier changes at most once on any segment; more changes mean a more folded
  boundary. The count of class transitions along a path through input space is the measure of
  Novak et al. (ICLR 2018, "Sensitivity and generalization in neural networks").
* :func:`local_linearity`: ``gamma(eps, x) = max_{||d||_inf <= eps} |l(x + d) - l(x) - d . grad l(x)|``,
  how far the loss is from its first-order Taylor expansion within the eps ball (Qin et al.,
  NeurIPS 2019, "Adversarial robustness through local linearization", eq. 5), maximised by
  projected sign-gradient ascent on ``d``. Zero for a loss linear in the input.
* :func:`boundary_distance`: each point's smallest linf eps at which a PGD attack changes the
  prediction, found by bisection on eps (the "minimal adversarial perturbation" of Moosavi-
  Dezfooli et al., CVPR 2016, estimated with PGD instead of DeepFool). For a linear two-class
  model this is the linf distance to its hyperplane, ``|margin| / ||w_1 - w_0||_1``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: A per-sample loss ``(inputs, labels) -> [B]``.
LossFn = Callable[[Tensor, Tensor], Tensor]


def _expand(values: Tensor, like: Tensor) -> Tensor:
    return values.view((-1,) + (1,) * (like.dim() - 1))


@torch.no_grad()
def segment_changes(model: nn.Module, start: Tensor, end: Tensor, steps: int = 64) -> Tensor:
    """Number of predicted-class changes along each segment ``start[i] -> end[i]`` (``[B]``)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    ts = torch.linspace(0.0, 1.0, steps + 1, dtype=start.dtype, device=start.device)
    preds = torch.stack(
        [model(torch.lerp(start, end, float(t))).argmax(dim=1) for t in ts], dim=1
    )  # [B, steps + 1]
    return (preds[:, 1:] != preds[:, :-1]).sum(dim=1)


def _sign_ascent(
    objective: Callable[[Tensor], Tensor], x: Tensor, eps: Tensor, steps: int, start: Tensor
) -> Tensor:
    """Maximise ``objective(x_adv)`` (per sample) over the linf ball ``eps`` around ``x``
    intersected with ``[0, 1]``, by ``steps`` sign-gradient steps of ``2.5 eps / steps``."""
    eps_b = _expand(eps, x)
    low, high = (x - eps_b).clamp(0.0, 1.0), (x + eps_b).clamp(0.0, 1.0)
    x_adv = torch.max(torch.min(start, high), low)
    for _ in range(steps):
        x_adv = x_adv.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(x_adv).sum(), x_adv)
        x_adv = torch.max(torch.min(x_adv.detach() + 2.5 * eps_b / steps * grad.sign(), high), low)
    return x_adv.detach()


def local_linearity(
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int = 10,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Qin et al.'s ``gamma(eps, x)`` of ``loss_fn`` per sample (``[B]``), see the module."""
    x = x.detach()
    x0 = x.clone().requires_grad_(True)
    loss0 = loss_fn(x0, y)
    (grad0,) = torch.autograd.grad(loss0.sum(), x0)
    loss0, grad0 = loss0.detach(), grad0.detach()

    def gap(z: Tensor) -> Tensor:
        linear = ((z - x) * grad0).flatten(1).sum(dim=1)
        return (loss_fn(z, y) - loss0 - linear).abs()

    noise = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    start = x + (2.0 * noise - 1.0) * eps
    eps_t = torch.full((len(x),), float(eps), dtype=x.dtype, device=x.device)
    worst = _sign_ascent(gap, x, eps_t, steps, start)
    with torch.no_grad():
        return gap(worst)


def cross_entropy_loss(model: nn.Module) -> LossFn:
    """The per-sample cross-entropy of ``model`` at the given labels."""
    return lambda inputs, labels: F.cross_entropy(model(inputs), labels, reduction="none")


def boundary_distance(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    max_eps: float,
    iters: int = 8,
    steps: int = 10,
) -> Tensor:
    """Each point's smallest linf eps in ``[0, max_eps]`` at which a PGD attack (``steps``
    sign steps of ``2.5 eps / steps`` on the cross-entropy, started at ``x``) changes the
    prediction from ``y``, by ``iters`` bisection steps (``[B]``).

    Points already misclassified get 0; points the attack cannot break at ``max_eps`` get
    ``max_eps`` (a lower bound: the distance is censored there).
    """
    loss = cross_entropy_loss(model)
    x, y = x.detach(), y.detach()

    def broken(eps: Tensor) -> Tensor:
        x_adv = _sign_ascent(lambda z: loss(z, y), x, eps, steps, x)
        with torch.no_grad():
            return model(x_adv).argmax(dim=1) != y

    with torch.no_grad():
        wrong = model(x).argmax(dim=1) != y
    low = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    high = torch.full_like(low, float(max_eps))
    reachable = broken(high)
    for _ in range(iters):
        mid = (low + high) / 2
        hit = broken(mid)
        high = torch.where(hit, mid, high)
        low = torch.where(hit, low, mid)
    distance = torch.where(reachable, high, torch.full_like(high, float(max_eps)))
    return torch.where(wrong, torch.zeros_like(distance), distance)
