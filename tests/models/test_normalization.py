"""Normalisation happens inside the model, in buffers, with validated statistics."""

from __future__ import annotations

import pytest
import torch

from benign.errors import ConfigError
from benign.models import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    MLP,
    MNIST_MEAN,
    MNIST_STD,
    DigitsCNN,
    Normalize,
    WideResNet,
)

from .conftest import Case


def stats(case: Case) -> tuple[list[float], list[float]]:
    mean = [0.3 + 0.1 * i for i in range(case.in_channels)]
    std = [0.2 + 0.05 * i for i in range(case.in_channels)]
    return mean, std


def test_model_with_stats_equals_model_on_standardised_input(case: Case) -> None:
    mean, std = stats(case)
    torch.manual_seed(0)
    normalised = case.build(10, mean=mean, std=std).eval()
    plain = case.build(10).eval()
    result = plain.load_state_dict(normalised.state_dict(), strict=False)
    assert sorted(result.unexpected_keys) == ["normalize.mean", "normalize.std"]
    assert result.missing_keys == []

    x = torch.rand(3, *case.input_shape)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    standardised = (x - torch.tensor(mean).view(shape)) / torch.tensor(std).view(shape)
    with torch.no_grad():
        torch.testing.assert_close(normalised(x), plain(standardised))
        torch.testing.assert_close(
            normalised.forward_features(x), plain.forward_features(standardised)
        )


def test_buffers_are_saved_and_restored() -> None:
    model = DigitsCNN(10, mean=MNIST_MEAN, std=MNIST_STD)
    state = model.state_dict()
    torch.testing.assert_close(state["normalize.mean"], torch.tensor(MNIST_MEAN))
    torch.testing.assert_close(state["normalize.std"], torch.tensor(MNIST_STD))
    assert "normalize.mean" not in dict(model.named_parameters())
    assert "normalize.mean" not in DigitsCNN(10).state_dict()

    other = DigitsCNN(10, mean=[0.0], std=[1.0])
    other.load_state_dict(state)
    torch.testing.assert_close(other.normalize.std, torch.tensor(MNIST_STD))


def test_identity_without_stats() -> None:
    norm = Normalize()
    x = torch.rand(2, 3, 4, 4)
    assert norm.is_identity
    assert norm(x) is x


def test_normalize_follows_dtype() -> None:
    norm = Normalize(CIFAR10_MEAN, CIFAR10_STD, num_channels=3).double()
    assert norm(torch.rand(1, 3, 2, 2, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize(
    ("mean", "std", "match"),
    [
        ([0.5, 0.5], [0.2, 0.2], "has 2 values but the input has 3 channels"),
        ([0.5] * 3, [0.2] * 2, "std has 2 values but the input has 3 channels"),
        ([0.5] * 3, [0.2, 0.0, 0.2], "std must be > 0"),
        ([0.5] * 3, [0.2, -1.0, 0.2], "std must be > 0"),
        ([0.5] * 3, None, "both mean and std"),
        ([], [], "empty"),
        (["a", "b", "c"], [0.2] * 3, "list of numbers"),
    ],
)
def test_invalid_stats_raise_config_error(mean, std, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        WideResNet(10, depth=10, widen_factor=1, mean=mean, std=std)
    assert "\n" not in str(info.value)


def test_mlp_accepts_one_value_for_all_features() -> None:
    model = MLP(2, in_features=4, hidden=(3,), mean=[0.5], std=[0.5])
    assert model.normalize(torch.ones(1, 4)).eq(1.0).all()
    with pytest.raises(ConfigError, match="has 2 values but the input has 4"):
        MLP(2, in_features=4, mean=[0.5, 0.5], std=[0.5, 0.5])


def test_image_models_need_one_value_per_channel() -> None:
    with pytest.raises(ConfigError, match="has 1 values but the input has 3 channels"):
        WideResNet(10, depth=10, widen_factor=1, mean=MNIST_MEAN, std=MNIST_STD)


def test_dataset_constants_are_per_channel() -> None:
    for values in (CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD):
        assert len(values) == 3 and all(0 < v < 1 for v in values)
    assert len(MNIST_MEAN) == len(MNIST_STD) == 1
