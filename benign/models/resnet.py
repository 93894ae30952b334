"""ResNet-18 and PreActResNet-18 with the CIFAR stem (3x3 conv, stride 1, no max-pool)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from benign.models.base import Backbone, check_positive, init_conv_bn


def conv3x3(in_planes: int, planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Post-activation residual block of He et al. (2016), "Deep Residual Learning for Image
    Recognition": conv-BN-ReLU-conv-BN, plus the (projected) shortcut, then ReLU.

    Args:
        in_planes: input channels.
        planes: output channels.
        stride: stride of the first conv (and of the projection shortcut).
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class PreActBlock(nn.Module):
    """Pre-activation residual block of He et al. (2016), "Identity Mappings in Deep Residual
    Networks": BN-ReLU-conv-BN-ReLU-conv plus the shortcut, no activation after the sum.

    A projection shortcut (1x1 conv) takes the pre-activated input, as in the paper.

    Args:
        in_planes: input channels.
        planes: output channels.
        stride: stride of the first conv (and of the projection shortcut).
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + shortcut


class _CifarResNet(Backbone):
    """Four stages of ``blocks`` residual blocks with ``width * (1, 2, 4, 8)`` channels."""

    def __init__(
        self,
        block: type[BasicBlock] | type[PreActBlock],
        blocks: Sequence[int],
        num_classes: int,
        in_channels: int,
        width: int,
        mean: Sequence[float] | None,
        std: Sequence[float] | None,
    ) -> None:
        super().__init__(num_classes, in_channels, mean, std)
        check_positive(width=width)
        preact = block is PreActBlock
        stem: list[nn.Module] = [conv3x3(in_channels, width)]
        if not preact:
            stem += [nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        self.stem = nn.Sequential(*stem)
        stages: list[nn.Module] = []
        in_planes = width
        for i, n in enumerate(blocks):
            planes = width * 2**i
            for j in range(n):
                stages.append(block(in_planes, planes, stride=2 if i > 0 and j == 0 else 1))
                in_planes = planes
        self.stages = nn.Sequential(*stages)
        # Pre-activation nets end with the BN-ReLU their last block leaves out.
        self.final = (
            nn.Sequential(nn.BatchNorm2d(in_planes), nn.ReLU(inplace=True))
            if preact
            else nn.Identity()
        )
        self._make_head(in_planes)
        init_conv_bn(self)

    def _features(self, x: Tensor) -> Tensor:
        x = self.final(self.stages(self.stem(x)))
        # Global average pooling as a mean: any input size, deterministic backward on CUDA.
        return x.mean(dim=(2, 3))


class PreActResNet18(_CifarResNet):
    """PreActResNet-18 (He et al. 2016, "Identity Mappings in Deep Residual Networks") with the
    CIFAR stem; 11.17M parameters for 10 classes at ``width=64``.

    Global average pooling at the end, so any input of at least 8x8 works (32x32 CIFAR,
    28x28 Fashion-MNIST with ``in_channels=1``).

    Args:
        num_classes: number of output logits.
        in_channels: input channels (3 for CIFAR, 1 for MNIST-like data).
        width: channels of the first stage (64 in the paper); smaller for CPU tests.
        mean: per-channel mean for the normalisation inside the model, or None.
        std: per-channel standard deviation, or None.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        width: int = 64,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(PreActBlock, (2, 2, 2, 2), num_classes, in_channels, width, mean, std)


class ResNet18(_CifarResNet):
    """ResNet-18 (He et al. 2016, "Deep Residual Learning for Image Recognition") with the
    CIFAR stem (3x3 conv, stride 1, no max-pool); 11.17M parameters for 10 classes.

    Args:
        num_classes: number of output logits.
        in_channels: input channels (3 for CIFAR, 1 for MNIST-like data).
        width: channels of the first stage (64 in the paper); smaller for CPU tests.
        mean: per-channel mean for the normalisation inside the model, or None.
        std: per-channel standard deviation, or None.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        width: int = 64,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, width, mean, std)
