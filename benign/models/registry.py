"""Backbones by short name, for the benchmark command and experiment grids."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from benign.errors import ConfigError
from benign.models.cnn import DigitsCNN, MadryCNN
from benign.models.mlp import MLP
from benign.models.resnet import PreActResNet18, ResNet18
from benign.models.wide_resnet import WRN28_10, WRN34_10

BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "small_cnn": MadryCNN,
    "digits_cnn": DigitsCNN,
    "mlp": MLP,
    "preact_resnet18": PreActResNet18,
    "resnet18": ResNet18,
    "wrn_28_10": WRN28_10,
    "wrn_34_10": WRN34_10,
}


def build_backbone(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build the backbone registered as ``name`` for ``num_classes`` classes.

    Args:
        name: a key of :data:`BACKBONES`, e.g. ``"preact_resnet18"``.
        num_classes: number of output logits.
        **kwargs: keyword arguments of that backbone (``width``, ``mean``, ``std``...).

    Raises:
        ConfigError: for an unknown name or an argument the backbone does not take.
    """
    if name not in BACKBONES:
        raise ConfigError(
            f"unknown backbone {name!r}; choose one of: {', '.join(sorted(BACKBONES))}"
        )
    factory = BACKBONES[name]
    try:
        inspect.signature(factory).bind(num_classes, **kwargs)
    except TypeError as err:
        raise ConfigError(f"backbone {name!r}: {err}") from err
    return factory(num_classes, **kwargs)
