"""A network trained to zero training error, and its PGD adversarial risk (PAPER.md, Theorem 1).

Theorem 1 holds for *any* classifier that fits the noisy sample; after the exactly attackable
1-NN rule, the natural second case is the paper's own: a network trained until it fits every
(noisy) label. Full-batch Adam on a :class:`benign.models.MLP`, stopped as soon as the training
error is 0, then :class:`benign.attacks.PGD` with restarts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from benign.attacks import PGD
from benign.models import MLP


def fit_interpolating_mlp(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    hidden: Sequence[int] = (256, 256),
    scale: float = 0.05,
    lr: float = 1e-3,
    max_steps: int = 3000,
    check_every: int = 25,
    seed: int = 0,
) -> tuple[MLP, float, int]:
    """Train an MLP on ``(x, y)`` until it fits every label (or ``max_steps``).

    Args:
        x: ``[m, d]`` inputs in [0, 1]; y: their (noisy) labels.
        scale: the model standardises inputs as ``(x - 0.5) / scale`` (e.g. the ball radius).
        check_every: how often (in steps) the training error is checked.

    Returns:
        ``(model, train_error, steps)``; ``train_error`` is 0 for an interpolating fit.
    """
    torch.manual_seed(seed)
    dim = x.shape[1]
    model = MLP(num_classes, dim, hidden=hidden, mean=[0.5] * dim, std=[scale] * dim)
    inputs = torch.as_tensor(x, dtype=torch.float32)
    targets = torch.as_tensor(y, dtype=torch.long)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    error, step = 1.0, 0
    for step in range(1, max_steps + 1):
        optimizer.zero_grad()
        logits = model(inputs)
        nn.functional.cross_entropy(logits, targets).backward()
        optimizer.step()
        if step % check_every == 0 or step == max_steps:
            error = error_rate(model, x, y)
            if error == 0.0:
                break
    model.eval()
    return model, error, step


@torch.no_grad()
def error_rate(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Share of ``(x, y)`` the model gets wrong."""
    logits = model(torch.as_tensor(x, dtype=torch.float32))
    return float((logits.argmax(1).numpy() != np.asarray(y)).mean())


def pgd_vulnerable(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    eps: float,
    norm: str,
    steps: int = 50,
    restarts: int = 5,
) -> np.ndarray:
    """BoolArray: test points PGD misclassifies within ``eps`` (a lower bound on the truth)."""
    inputs = torch.as_tensor(x, dtype=torch.float32)
    targets = torch.as_tensor(y, dtype=torch.long)
    attack = PGD(eps=eps, steps=steps, norm=norm, restarts=restarts, random_start=True)
    adversarial = attack(model, inputs, targets)
    with torch.no_grad():
        wrong = model(adversarial).argmax(1) != targets
        wrong |= model(inputs).argmax(1) != targets
    return wrong.numpy()
