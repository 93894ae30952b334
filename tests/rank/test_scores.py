"""The two scores of benign rank on models whose answer is known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from benign.rank.scores import (
    attack_steps_to_flip,
    disagreement_scores,
    suspected_labels,
    suspicion_order,
)

W = torch.tensor([1.0, 0.5], dtype=torch.float64)  # ||w||_1 = 1.5
C = 0.75


def linear_model() -> nn.Module:
    """Two classes, logits (w.x - c, -(w.x - c)): class 0 iff w.x > c; a linf step of size a
    against the label changes w.x by exactly a * ||w||_1 (inside the [0, 1] box)."""
    model = nn.Linear(2, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.stack([W, -W]))
        model.bias.copy_(torch.tensor([-C, C], dtype=torch.float64))
    return model.eval()


def margin(x: torch.Tensor) -> torch.Tensor:
    return x @ W - C


def test_attack_steps_match_the_distance_to_the_boundary_over_the_step():
    x = torch.tensor(
        [[0.6, 0.5], [0.7, 0.5], [0.55, 0.45], [0.5, 0.4], [0.9, 0.9], [0.4, 0.4]],
        dtype=torch.float64,
    )
    y = torch.tensor([0, 0, 0, 1, 0, 0])
    step, max_steps = 0.01, 12
    steps, reached = attack_steps_to_flip(linear_model(), x, y, 1.0, step, max_steps)
    # Given label 0 with margin m > 0: flipped at the first t with m - t * step * 1.5 < 0.
    # Given label 1 (w.x < c): the step raises w.x the same way. A point with the other label
    # predicted already needs 0 steps; one farther than max_steps steps is never flipped.
    expected = []
    for xi, yi in zip(x, y, strict=True):
        m = float(margin(xi)) * (1 if yi == 0 else -1)
        t = 0 if m < 0 else math.floor(m / (step * 1.5)) + 1
        expected.append(t if t <= max_steps else max_steps + 1)
    assert steps.tolist() == expected == [7, 13, 2, 4, 13, 0]
    assert reached.tolist() == [1, 0, 1, 0, 0, 1]  # flipped: the other class; else the prediction


def test_attack_steps_stay_in_the_eps_ball():
    # eps = 0.03 caps the change of w.x at 0.045: margin 0.04 flips at step 3, 0.05 never.
    x = torch.tensor([[0.5, 0.58], [0.5, 0.6]], dtype=torch.float64)
    assert margin(x).tolist() == pytest.approx([0.04, 0.05])
    steps, _ = attack_steps_to_flip(linear_model(), x, torch.tensor([0, 0]), 0.03, 0.01, 10)
    assert steps.tolist() == [3, 11]


def test_probability_score_and_suggestion():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    given = np.array([0, 2, 0])
    assert disagreement_scores(probs, given).tolist() == [0.2, 0.3, 0.5]
    assert suspected_labels(probs, given).tolist() == [1, 1, 1]


def test_steps_order_is_fewest_steps_first_ties_by_probability():
    scores = {
        "probability": np.array([0.9, 0.1, 0.5, 0.8]),
        "attack_steps": np.array([3, 0, 3, 5]),
    }
    assert suspicion_order(scores, "attack_steps").tolist() == [1, 0, 2, 3]
    assert suspicion_order(scores, "probability").tolist() == [0, 3, 2, 1]
