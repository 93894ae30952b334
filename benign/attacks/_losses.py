"""Per-example losses the attacks maximise, computed in float32 (also under bf16 autocast)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy of each example, shape ``[B]``."""
    return F.cross_entropy(logits.float(), y, reduction="none")


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """The Carlini-Wagner margin ``max_{j != y} z_j - z_y`` of each example, shape ``[B]``.

    Carlini & Wagner (2017), "Towards Evaluating the Robustness of Neural Networks", the logit
    difference of their f_6 objective without the confidence clamp: positive exactly when the
    example is misclassified, and free of the softmax saturation that flattens cross-entropy
    gradients on confidently classified points.
    """
    z = logits.float()
    true = z.gather(1, y.view(-1, 1)).squeeze(1)
    is_true = torch.zeros_like(z, dtype=torch.bool).scatter_(1, y.view(-1, 1), True)
    other = z.masked_fill(is_true, float("-inf")).amax(dim=1)
    return other - true


def attack_loss(name: str, logits: Tensor, y: Tensor) -> Tensor:
    """The per-example loss called ``name`` (``"ce"`` or ``"cw"``)."""
    if name == "ce":
        return cross_entropy(logits, y)
    if name == "cw":
        return margin(logits, y)
    raise ValueError(f"unknown attack loss {name!r}; expected 'ce' or 'cw'")


def total_attack_loss(name: str, logits: Tensor, y: Tensor) -> Tensor:
    """The sum over the batch of :func:`attack_loss` (one kernel for cross-entropy): its input
    gradient is every example's own loss gradient, whatever the batch size."""
    if name == "ce":
        return F.cross_entropy(logits.float(), y, reduction="sum")
    return attack_loss(name, logits, y).sum()
