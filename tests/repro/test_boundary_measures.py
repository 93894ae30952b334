"""The decision-boundary measures of E7 (benign.analysis.boundary) on cases with a known answer."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from benign.analysis.boundary import (
    boundary_distance,
    cross_entropy_loss,
    local_linearity,
    segment_changes,
)


def linear_model(w: list[float], b: float) -> nn.Module:
    """Two classes: logit_1 - logit_0 = w . x + b (logit_0 = 0)."""
    layer = nn.Linear(len(w), 2)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
        layer.weight[1] = torch.tensor(w)
        layer.bias[1] = b
    return layer.eval()


class Wavy(nn.Module):
    """Class 1 where cos(2 pi k x_0) > 0: 2k class changes as x_0 goes from 0 to 1."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.cos(2 * math.pi * self.k * x[:, 0])
        return torch.stack([-s, s], dim=1)


def test_a_linear_model_changes_once_on_a_crossing_segment_and_never_otherwise() -> None:
    model = linear_model([1.0, -1.0], 0.0)  # boundary x0 = x1
    start = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.2, 0.3]])
    end = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.1, 0.9]])
    assert segment_changes(model, start, end, steps=32).tolist() == [1, 0, 0]


def test_a_folded_boundary_changes_as_often_as_it_folds() -> None:
    start, end = torch.tensor([[0.0, 0.5]]), torch.tensor([[1.0, 0.5]])
    assert segment_changes(Wavy(3), start, end, steps=200).tolist() == [6]
    assert segment_changes(Wavy(1), start, end, steps=200).tolist() == [2]


def test_local_linearity_is_zero_for_a_linear_loss() -> None:
    w = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))

    def linear_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) @ w.flatten()) + y.float()

    x = torch.rand(8, 3, 4, generator=torch.Generator().manual_seed(1)) * 0.6 + 0.2
    gamma = local_linearity(linear_loss, x, torch.zeros(8, dtype=torch.long), eps=0.1)
    assert torch.all(gamma.abs() < 1e-5)


def test_local_linearity_of_a_quadratic_is_its_curvature_at_the_corner() -> None:
    """l(x) = |x|^2 / 2: the Taylor gap is |d|^2 / 2, largest at a corner: dim * eps^2 / 2."""
    x = torch.full((4, 10), 0.5)
    gamma = local_linearity(lambda z, y: 0.5 * (z**2).sum(dim=1), x, torch.zeros(4), eps=0.1)
    assert gamma.tolist() == pytest.approx([10 * 0.1**2 / 2] * 4, rel=1e-4)


def test_boundary_distance_of_a_linear_model_is_its_linf_distance_to_the_hyperplane() -> None:
    w, b = [2.0, -1.0, 1.0], -1.0
    model = linear_model(w, b)
    x = torch.tensor([[0.5, 0.5, 0.5], [0.5, 0.6, 0.45], [0.4, 0.5, 0.5], [0.1, 0.9, 0.1]])
    margin = x @ torch.tensor(w) + b
    y = (margin > 0).long()
    expected = (margin.abs() / sum(abs(v) for v in w)).clamp(max=0.2)
    found = boundary_distance(model, x, y, max_eps=0.2, iters=12)
    assert found.tolist() == pytest.approx(expected.tolist(), abs=0.2 / 2**12 + 1e-6)
    # a point already misclassified has distance 0; one beyond max_eps is censored at max_eps
    assert boundary_distance(model, x[:1], 1 - y[:1], max_eps=0.2).tolist() == [0.0]
    assert found[-1].item() == pytest.approx(0.2)


def test_cross_entropy_loss_is_per_sample() -> None:
    model = linear_model([1.0], 0.0)
    loss = cross_entropy_loss(model)(torch.tensor([[0.0], [2.0]]), torch.tensor([0, 1]))
    assert loss.shape == (2,) and loss[0].item() == pytest.approx(math.log(2))
