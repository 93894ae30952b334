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


def dlr(logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
    """The difference-of-logits-ratio loss of Croce & Hein (2020, Sec. 4), shape ``[B]``.

    Untargeted: ``-(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3)``; targeted at class ``t``:
    ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``, with ``z_pi`` the logits sorted in
    decreasing order. Invariant to shifting and rescaling the logits, so a model cannot hide
    behind large logits. It needs 3 classes (4 targeted): with 2 it is the CW margin, and the
    targeted loss of a 3-class model uses the untargeted scale.
    """
    z = logits.float()
    if z.shape[1] < 3:
        return margin(z, y)
    top = z.sort(dim=1, descending=True).values
    true = z.gather(1, y.view(-1, 1)).squeeze(1)
    if target is None:
        return margin(z, y) / (top[:, 0] - top[:, 2] + 1e-12)
    other = z.gather(1, target.view(-1, 1)).squeeze(1)
    low = top[:, 2] if z.shape[1] < 4 else 0.5 * (top[:, 2] + top[:, 3])
    return -(true - other) / (top[:, 0] - low + 1e-12)


def attack_loss(name: str, logits: Tensor, y: Tensor) -> Tensor:
    """The per-example loss called ``name`` (``"ce"``, ``"cw"`` or ``"dlr"``)."""
    if name == "ce":
        return cross_entropy(logits, y)
    if name == "cw":
        return margin(logits, y)
    if name == "dlr":
        return dlr(logits, y)
    raise ValueError(f"unknown attack loss {name!r}; expected 'ce', 'cw' or 'dlr'")


def total_attack_loss(name: str, logits: Tensor, y: Tensor) -> Tensor:
    """The sum over the batch of :func:`attack_loss` (one kernel for cross-entropy): its input
    gradient is every example's own loss gradient, whatever the batch size."""
    if name == "ce":
        return F.cross_entropy(logits.float(), y, reduction="sum")
    return attack_loss(name, logits, y).sum()
