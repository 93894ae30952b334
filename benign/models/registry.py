"""Backbones by short name (``--model.backbone digits_cnn``, bench cases, experiment grids)."""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from benign.errors import ConfigError
from benign.registry import Registry

BACKBONES = Registry(
    "backbone",
    {
        "small_cnn": "benign.models.MadryCNN",
        "digits_cnn": "benign.models.DigitsCNN",
        "mlp": "benign.models.MLP",
        "preact_resnet18": "benign.models.PreActResNet18",
        "resnet18": "benign.models.ResNet18",
        "wrn_28_10": "benign.models.WRN28_10",
        "wrn_34_10": "benign.models.WRN34_10",
    },
)


def build_backbone(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build the backbone registered as ``name`` for ``num_classes`` classes.

    Args:
        name: a name of :data:`BACKBONES`, e.g. ``"preact_resnet18"``.
        num_classes: number of output logits.
        **kwargs: keyword arguments of that backbone (``width``, ``mean``, ``std``...).

    Raises:
        ConfigError: for an unknown name or an argument the backbone does not take.
    """
    factory = BACKBONES.load(name)
    try:
        inspect.signature(factory).bind(num_classes, **kwargs)
    except TypeError as err:
        raise ConfigError(f"backbone {name!r}: {err}") from err
    return factory(num_classes, **kwargs)
