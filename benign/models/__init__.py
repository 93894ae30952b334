"""Backbones: plain ``nn.Module``s taking inputs in [0, 1] and normalising inside.

Each takes ``num_classes`` as its first argument, so a method can build it from a YAML
``class_path`` (e.g. ``benign.models.PreActResNet18``) once the data says how many classes
there are.
"""

from benign.models.base import Backbone
from benign.models.cnn import DigitsCNN, MadryCNN
from benign.models.mlp import MLP
from benign.models.normalization import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    MNIST_MEAN,
    MNIST_STD,
    Normalize,
)
from benign.models.registry import BACKBONES, build_backbone
from benign.models.resnet import PreActResNet18, ResNet18
from benign.models.wide_resnet import WRN28_10, WRN34_10, WideResNet

__all__ = [
    "BACKBONES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "MNIST_MEAN",
    "MNIST_STD",
    "MLP",
    "Backbone",
    "DigitsCNN",
    "MadryCNN",
    "Normalize",
    "PreActResNet18",
    "ResNet18",
    "WRN28_10",
    "WRN34_10",
    "WideResNet",
    "build_backbone",
]
