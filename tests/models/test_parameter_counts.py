"""Full-size backbones have the parameter counts of the literature (within 1%)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benign.models import WRN28_10, WRN34_10, MadryCNN, PreActResNet18, ResNet18, WideResNet


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (PreActResNet18, 11.17e6),
        (ResNet18, 11.17e6),
        (WRN28_10, 36.48e6),
        (WRN34_10, 46.16e6),
        (lambda k: WideResNet(k, depth=34, widen_factor=10), 46.16e6),
        (MadryCNN, 3.27e6),
    ],
    ids=["preact_resnet18", "resnet18", "wrn_28_10", "wrn_34_10", "wideresnet_34_10", "madry"],
)
def test_parameter_count_matches_literature(build, expected: float) -> None:
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = build(10)
    assert abs(count(model) - expected) / expected < 0.01


def test_wrn_34_10_forward_batch_of_two() -> None:
    torch.manual_seed(0)
    model = WRN34_10(10).eval()
    assert model.feature_dim == 640
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_width_scales_resnets() -> None:
    with torch.device("meta"):
        small, full = PreActResNet18(10, width=16), PreActResNet18(10)
    assert small.feature_dim == 128
    assert count(small) < count(full) / 10
