"""Backbones by name and by YAML class_path; invalid options are one-line ConfigErrors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from benign.errors import ConfigError
from benign.models import (
    BACKBONES,
    WRN28_10,
    DigitsCNN,
    MadryCNN,
    PreActResNet18,
    WideResNet,
    build_backbone,
)


def test_registry_names() -> None:
    assert set(BACKBONES) == {
        "small_cnn",
        "digits_cnn",
        "mlp",
        "preact_resnet18",
        "resnet18",
        "wrn_28_10",
        "wrn_34_10",
    }
    assert BACKBONES.load("small_cnn") is MadryCNN
    assert BACKBONES["small_cnn"] == "benign.models.MadryCNN"


def test_build_backbone_passes_arguments() -> None:
    model = build_backbone("preact_resnet18", 7, in_channels=1, width=4)
    assert isinstance(model, PreActResNet18)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 7)
    assert build_backbone("mlp", 3, in_features=5)(torch.rand(2, 5)).shape == (2, 3)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="unknown backbone 'resnet19'") as info:
        build_backbone("resnet19", 10)
    message = str(info.value)
    assert "\n" not in message
    for name in BACKBONES:
        assert name in message


def test_unknown_argument_is_config_error() -> None:
    with pytest.raises(ConfigError, match="digits_cnn") as info:
        build_backbone("digits_cnn", 10, depth=3)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("depth", [12, 27, 4, 0])
def test_bad_wrn_depth(depth: int) -> None:
    with pytest.raises(ConfigError, match="depth must be 6n \\+ 4") as info:
        WideResNet(10, depth=depth, widen_factor=1)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [{"num_classes": 0}, {"num_classes": 10, "width": 0}, {"num_classes": 10, "hidden": -1}],
)
def test_non_positive_sizes(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="must be a positive number"):
        DigitsCNN(**kwargs)


def test_num_classes_is_first_positional_parameter() -> None:
    import inspect

    for factory in map(BACKBONES.load, BACKBONES):
        first = next(iter(inspect.signature(factory).parameters.values()))
        assert first.name == "num_classes"
        assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


def test_yaml_class_path_as_backbone_callable() -> None:
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_argument("--backbone", type=Callable[[int], nn.Module])
    cfg = parser.parse_args(
        [
            "--backbone",
            '{"class_path": "benign.models.WRN28_10", "init_args": {"dropout": 0.3}}',
        ]
    )
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    init = instantiate(cfg)
    with torch.device("meta"):
        model = init.backbone(4)
    assert isinstance(model, WRN28_10)
    assert model.num_classes == 4 and model.depth == 28 and model.widen_factor == 10
