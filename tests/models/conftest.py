"""Small instances of every backbone, sized for fast CPU tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from torch import nn

from benign.models import (
    MLP,
    DigitsCNN,
    MadryCNN,
    PreActResNet18,
    ResNet18,
    WideResNet,
)


@dataclass(frozen=True)
class Case:
    """How to build a small backbone and the shape of one input (without the batch)."""

    name: str
    build: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    in_channels: int


CASES = [
    Case("digits_cnn", lambda k, **kw: DigitsCNN(k, width=8, hidden=16, **kw), (1, 8, 8), 1),
    Case("madry_cnn", lambda k, **kw: MadryCNN(k, **kw), (1, 28, 28), 1),
    Case("mlp", lambda k, **kw: MLP(k, 20, hidden=(16, 8), **kw), (20,), 20),
    Case("preact_cifar", lambda k, **kw: PreActResNet18(k, width=4, **kw), (3, 32, 32), 3),
    Case(
        "preact_fmnist",
        lambda k, **kw: PreActResNet18(k, in_channels=1, width=4, **kw),
        (1, 28, 28),
        1,
    ),
    Case("resnet18", lambda k, **kw: ResNet18(k, width=4, **kw), (3, 32, 32), 3),
    Case(
        "wrn_10_1",
        lambda k, **kw: WideResNet(k, depth=10, widen_factor=1, dropout=0.1, **kw),
        (3, 32, 32),
        3,
    ),
]


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param
