"""Helpers for the attack tests."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from benign.attacks import Attack


def digits_mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def robust_accuracy(model: nn.Module, attack: Attack, x: Tensor, y: Tensor, seed: int = 0) -> float:
    """Accuracy on ``attack``'s examples, with the attack's randomness fixed by ``seed``."""
    torch.manual_seed(seed)
    return accuracy(model, attack(model, x, y), y)
