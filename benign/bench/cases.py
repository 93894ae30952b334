"""What ``benign bench`` times: a backbone, a synthetic batch of a dataset's shape, a loader.

The inputs are random pixels in [0, 1] and random labels: a step costs the same whatever the
pixels are, and no dataset has to be on disk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from benign.data.datasets import IndexedTensorDataset, collate_batch, to_float
from benign.data.loaders import IndexSampler
from benign.models import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    MNIST_MEAN,
    MNIST_STD,
    WRN28_10,
    DigitsCNN,
    MadryCNN,
    PreActResNet18,
)


@dataclass(frozen=True)
class InputShape:
    """A dataset's input: ``channels x size x size`` pixels, ``num_classes`` labels."""

    channels: int
    size: int
    num_classes: int
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None


#: ``--input`` choices: the shapes of scikit-learn digits, MNIST and CIFAR-10.
INPUTS: dict[str, InputShape] = {
    "digits": InputShape(1, 8, 10, None, None),
    "mnist": InputShape(1, 28, 10, tuple(MNIST_MEAN), tuple(MNIST_STD)),
    "cifar": InputShape(3, 32, 10, tuple(CIFAR10_MEAN), tuple(CIFAR10_STD)),
}


def _small_cnn(shape: InputShape) -> nn.Module:
    return MadryCNN(shape.num_classes, shape.channels, shape.size, shape.mean, shape.std)


def _digits_cnn(shape: InputShape) -> nn.Module:
    return DigitsCNN(
        shape.num_classes, shape.channels, mean=shape.mean, std=shape.std, input_size=shape.size
    )


def _preact_resnet18(shape: InputShape) -> nn.Module:
    return PreActResNet18(shape.num_classes, shape.channels, mean=shape.mean, std=shape.std)


def _wrn_28_10(shape: InputShape) -> nn.Module:
    return WRN28_10(shape.num_classes, in_channels=shape.channels, mean=shape.mean, std=shape.std)


#: ``--model`` choices: a backbone built for an input shape.
MODELS: dict[str, Callable[[InputShape], nn.Module]] = {
    "small_cnn": _small_cnn,
    "digits_cnn": _digits_cnn,
    "preact_resnet18": _preact_resnet18,
    "wrn_28_10": _wrn_28_10,
}


def build_backbone(model: str, input: str, num_classes: int) -> nn.Module:
    """The ``--model`` backbone for the ``--input`` shape with ``num_classes`` outputs."""
    shape = INPUTS[input]
    return MODELS[model](InputShape(shape.channels, shape.size, num_classes, shape.mean, shape.std))


@dataclass(frozen=True)
class BenchCase:
    """One benchmark setting: a backbone on a batch of one input shape."""

    model: str
    input: str
    batch_size: int
    device: str = "cpu"

    @property
    def shape(self) -> InputShape:
        return INPUTS[self.input]

    def backbone_factory(self) -> Callable[[int], nn.Module]:
        """A factory ``num_classes -> backbone``, as the methods take it (picklable, so it stays
        in the module's hyper-parameters)."""
        return functools.partial(build_backbone, self.model, self.input)

    def raw_batch(self, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Random uint8 images and labels on the CPU, stored like a real dataset's."""
        shape = self.shape
        generator = torch.Generator().manual_seed(seed)
        size = (self.batch_size, shape.channels, shape.size, shape.size)
        images = torch.randint(0, 256, size, generator=generator, dtype=torch.uint8)
        y = torch.randint(0, shape.num_classes, (self.batch_size,), generator=generator)
        return images, y

    def batch(self, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The synthetic batch ``(x float in [0, 1], y)`` on the CPU, the same for every case."""
        images, y = self.raw_batch(seed)
        return to_float(images), y

    def loader(self, batches: int, pin_memory: bool = False) -> DataLoader:
        """``batches`` copies of the batch, served like a data module's training loader (uint8
        pixels converted to float per batch, batches ``(x, y, index)``)."""
        dataset = IndexedTensorDataset(*self.raw_batch())
        indices = list(range(self.batch_size)) * batches
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=IndexSampler(indices),
            collate_fn=collate_batch,
            pin_memory=pin_memory,
        )
