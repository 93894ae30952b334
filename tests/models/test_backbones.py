"""Shapes, the features/head split, gradients to the input, precision and memory formats."""

from __future__ import annotations

import pytest
import torch

from benign.models import MLP, Backbone, MadryCNN, PreActResNet18

from .conftest import Case


@pytest.mark.parametrize("num_classes", [2, 10, 100])
def test_output_and_feature_shapes(case: Case, num_classes: int) -> None:
    torch.manual_seed(0)
    model = case.build(num_classes)
    assert isinstance(model, Backbone)
    assert model.num_classes == num_classes
    x = torch.rand(3, *case.input_shape)
    logits = model(x)
    assert logits.shape == (3, num_classes)
    features = model.forward_features(x)
    assert features.shape == (3, model.feature_dim)
    assert torch.isfinite(logits).all()


def test_forward_is_head_of_features(case: Case) -> None:
    torch.manual_seed(0)
    model = case.build(10).eval()
    x = torch.rand(4, *case.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.forward_head(model.forward_features(x)))


def test_full_size_forward_shapes() -> None:
    torch.manual_seed(0)
    cifar = PreActResNet18(10)
    assert cifar(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert cifar.feature_dim == 512
    fmnist = PreActResNet18(10, in_channels=1)
    assert fmnist(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert MadryCNN(10)(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_mlp_flattens_images() -> None:
    model = MLP(3, in_features=1 * 8 * 8, hidden=(16,), mean=[0.5], std=[0.25])
    images = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(images), model(images.flatten(1)))
    with pytest.raises(ValueError, match="expects 64 input features"):
        model(torch.rand(5, 10))


def test_mlp_without_hidden_layers_is_linear() -> None:
    model = MLP(4, in_features=6, hidden=())
    assert model.feature_dim == 6
    x = torch.rand(2, 6)
    torch.testing.assert_close(model.forward_features(x), x)


def test_gradients_reach_the_input(case: Case) -> None:
    torch.manual_seed(0)
    model = case.build(10).eval()
    x = torch.rand(2, *case.input_shape, requires_grad=True)
    model(x)[:, 0].sum().backward()
    assert x.grad is not None
    assert x.grad.abs().sum() > 0
    assert any(p.grad is not None for p in model.parameters())


def test_input_gradients_with_frozen_parameters(case: Case) -> None:
    torch.manual_seed(0)
    model = case.build(10, mean=[0.4] * case.in_channels, std=[0.3] * case.in_channels).eval()
    model.requires_grad_(False)
    x = torch.rand(2, *case.input_shape, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([1, 2]))
    (grad,) = torch.autograd.grad(loss, x)
    assert grad.shape == x.shape
    assert grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_channels_last_matches_contiguous(case: Case) -> None:
    if len(case.input_shape) != 3:
        pytest.skip("channels_last applies to image inputs")
    torch.manual_seed(0)
    model = case.build(10).eval()
    x = torch.rand(4, *case.input_shape)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.contiguous(memory_format=torch.channels_last))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_bf16_autocast_close_to_fp32(case: Case) -> None:
    torch.manual_seed(0)
    model = case.build(10).eval()
    x = torch.rand(4, *case.input_shape)
    with torch.no_grad():
        expected = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
    assert torch.isfinite(out).all()
    scale = expected.abs().max().clamp_min(1.0)
    assert (out.float() - expected).abs().max() <= 0.1 * scale


def test_bf16_autocast_backward_to_input(case: Case) -> None:
    torch.manual_seed(0)
    model = case.build(10).train()
    x = torch.rand(2, *case.input_shape, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1]))
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
