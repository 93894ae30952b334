"""How likely a point's given label is wrong: the scores ``benign rank`` orders points by.

* ``probability``: the highest probability the model gives to a class other than the given
  label, ``max_{c != y} p(c | x)`` (PAPER.md, E4; Sanyal et al., ICLR 2021, Sec. 3: a robust
  model confidently rejects the labels it did not fit). Higher = more suspicious.
* ``attack_steps``: how many PGD steps move the point out of its given class (Zhu et al., 2021,
  "Understanding the interaction of adversarial training with noisy labels": a mislabelled point
  lies on the wrong side of a robust model's boundary, so it flips in few or no steps). Fewer =
  more suspicious; ``0`` is a point the model already predicts as another class, and
  ``max_steps + 1`` one that no step flipped.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benign.attacks._projection import linf_bounds

#: The score names of ``benign rank --score`` and the ``ranking.csv`` columns that hold them.
SCORES = ("probability", "attack_steps")


def disagreement_scores(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``max_{c != y} p(c | x)`` for each row of ``probs`` ``[N, K]`` and given label ``y``."""
    return _other_classes(probs, labels).max(axis=1)


def suspected_labels(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``argmax_{c != y} p(c | x)``: the class a point's disagreement score is for."""
    return _other_classes(probs, labels).argmax(axis=1)


def _other_classes(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    others = np.array(probs, dtype=float, copy=True)
    others[np.arange(len(labels)), labels] = -np.inf
    return others


@torch.no_grad()
def batch_probabilities(model: nn.Module, x: Tensor) -> Tensor:
    """Softmax probabilities ``[B, K]`` of ``model`` (in eval mode) on one batch, on the CPU."""
    device = next(model.parameters()).device
    return torch.softmax(model(x.to(device)).float(), dim=1).cpu()


def attack_steps_to_flip(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, step_size: float, max_steps: int
) -> tuple[Tensor, Tensor]:
    """Per point, the number of linf PGD steps (no random start, each of ``step_size`` along the
    sign of the gradient of the cross-entropy of the given label ``y``, kept in the ``eps``-ball
    around ``x`` and in ``[0, 1]``) after which the model predicts a class other than ``y``.

    Returns ``(steps, reached)``: ``steps`` ``[B]`` is ``0`` for a point already predicted as
    another class, ``t`` when step ``t`` first flips it, ``max_steps + 1`` when none does;
    ``reached`` ``[B]`` is the class predicted at the flip (the clean prediction when none).
    The model is used as it is (call ``model.eval()`` first)."""
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    low, high = linf_bounds(x, eps)
    steps = torch.full_like(y, max_steps + 1)
    with torch.no_grad():
        reached = model(x).argmax(dim=1)
    steps[reached != y] = 0
    x_adv = x.clone()
    for t in range(1, max_steps + 1):
        active = (steps > max_steps).nonzero().flatten()
        if len(active) == 0:
            break
        # Each point's step depends on its own input only, so the unflipped ones go alone.
        point = x_adv[active].detach().requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(model(point), y[active], reduction="sum")
            (grad,) = torch.autograd.grad(loss, point)
        with torch.no_grad():
            point = torch.max(torch.min(point + step_size * grad.sign(), high[active]), low[active])
            x_adv[active] = point
            predicted = model(point).argmax(dim=1)
        flipped = active[predicted != y[active]]
        steps[flipped] = t
        reached[flipped] = predicted[predicted != y[active]]
    return steps.cpu(), reached.cpu()


def suspicion_order(scores: dict[str, np.ndarray], score: str) -> np.ndarray:
    """Positions from most to least suspicious under ``score``: ``probability`` descending;
    ``attack_steps`` ascending, ties by ``probability`` descending. Stable (equal points keep
    their order), so the probability order is the one ``benign repro mislabelled`` uses."""
    probability = scores["probability"]
    if score == "probability":
        return np.argsort(-probability, kind="stable")
    return np.lexsort((-probability, scores["attack_steps"]))


def concat(parts: Iterable[Tensor]) -> np.ndarray:
    """Concatenate CPU batches into one numpy array."""
    return torch.cat(list(parts)).numpy()
