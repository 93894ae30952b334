"""On a linear model the worst case has a closed form, and PGD must reach it.

A binary linear score ``s(x) = w.x + b`` with label ``y`` in {-1, +1} is presented as two logits
``(-s/2, s/2)``: cross-entropy is then ``softplus(-y s)`` and the CW margin is ``-y s``, both
decreasing in the margin ``y s``, so maximising either minimises ``y s(x + delta)``.

- linf ball inside the box [0, 1]: each coordinate moves against ``sign(y w_i)`` by
  ``min(eps, room to the box edge)``, so ``min y s = y s(x) - sum_i |w_i| min(eps, room_i)``.
- l2 ball, away from the box edges: ``delta* = -eps y w / ||w||``, ``min y s = y s(x) - eps ||w||``.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from benign.attacks import PGD


class BinaryLinear(nn.Module):
    def __init__(self, w: Tensor, b: float) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.tensor(b))

    def score(self, x: Tensor) -> Tensor:
        return x.flatten(1) @ self.w + self.b

    def forward(self, x: Tensor) -> Tensor:
        s = self.score(x)
        return torch.stack([-s / 2, s / 2], dim=1)


def setup(seed: int, d: int, n: int, low: float, high: float):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g, dtype=torch.float64) / d**0.5
    model = BinaryLinear(w, 0.1).double()
    x = low + (high - low) * torch.rand(n, d, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 2, (n,), generator=g)
    return model, x, labels, (2 * labels - 1).double()


@pytest.mark.parametrize("loss", ["ce", "cw"])
@pytest.mark.parametrize("eps", [0.05, 0.2, 0.6])
@pytest.mark.parametrize("random_start", [True, False])
def test_linf_pgd_reaches_the_closed_form_worst_case(loss, eps, random_start):
    # Some coordinates near the box edges, so that the box constraint is active.
    model, x, labels, sign = setup(seed=0, d=30, n=64, low=0.0, high=1.0)
    x[:, :5] = 0.0
    x[:, 5:10] = 1.0
    with torch.no_grad():
        down = sign.view(-1, 1) * model.w.view(1, -1) > 0  # lowering x_i lowers y s
        room = torch.where(down, x, 1 - x)
        optimum = sign * model.score(x) - (model.w.abs() * room.clamp(max=eps)).sum(1)
    attack = PGD(eps, steps=20, loss=loss, random_start=random_start)
    torch.manual_seed(0)
    x_adv = attack(model, x, labels)
    with torch.no_grad():
        achieved = sign * model.score(x_adv)
    assert torch.allclose(achieved, optimum, atol=1e-4, rtol=0)


@pytest.mark.parametrize("loss", ["ce", "cw"])
@pytest.mark.parametrize("eps", [0.05, 0.25])
@pytest.mark.parametrize("random_start", [True, False])
def test_l2_pgd_reaches_the_closed_form_worst_case(loss, eps, random_start):
    # x in [0.3, 0.7] and |delta_i| <= eps < 0.3: the box never binds.
    model, x, labels, sign = setup(seed=1, d=30, n=64, low=0.3, high=0.7)
    w = model.w.detach()
    optimum_delta = -eps * sign.view(-1, 1) * w.view(1, -1) / w.norm()
    with torch.no_grad():
        optimum = sign * model.score(x) - eps * w.norm()
    attack = PGD(eps, step_size=eps / 4, steps=60, norm="l2", loss=loss, random_start=random_start)
    torch.manual_seed(0)
    x_adv = attack(model, x, labels)
    with torch.no_grad():
        achieved = sign * model.score(x_adv)
    assert torch.allclose(achieved, optimum, atol=1e-4, rtol=0)
    assert torch.allclose(x_adv - x, optimum_delta, atol=1e-3)
