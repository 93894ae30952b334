"""Wide residual networks (Zagoruyko & Komodakis 2016) for 32x32 inputs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from benign.errors import ConfigError
from benign.models.base import Backbone, check_positive, init_conv_bn


class WideBasicBlock(nn.Module):
    """Pre-activation wide block: BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3 plus the shortcut.

    When the shape changes, the 1x1 projection shortcut takes the pre-activated input.

    Args:
        in_planes: input channels.
        planes: output channels.
        stride: stride of the first conv (and of the projection shortcut).
        dropout: dropout probability between the two convolutions.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.dropout(torch.relu(self.bn2(out))))
        return out + shortcut


class WideResNet(Backbone):
    """WRN-depth-k of Zagoruyko & Komodakis (2016), "Wide Residual Networks".

    A 3x3 conv with 16 channels, three groups of ``(depth - 4) / 6`` wide blocks with
    ``16k, 32k, 64k`` channels (strides 1, 2, 2), BN-ReLU, global average pooling and a linear
    classifier. WRN-28-10 has 36.48M parameters and WRN-34-10 46.16M (10 classes).

    Args:
        num_classes: number of output logits.
        depth: total depth; ``(depth - 4)`` must be divisible by 6 (10, 16, 22, 28, 34, 40...).
        widen_factor: the width multiplier ``k``.
        dropout: dropout probability inside each block.
        in_channels: input channels.
        mean: per-channel mean for the normalisation inside the model, or None.
        std: per-channel standard deviation, or None.
    """

    def __init__(
        self,
        num_classes: int,
        depth: int = 28,
        widen_factor: int = 10,
        dropout: float = 0.0,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(num_classes, in_channels, mean, std)
        check_positive(widen_factor=widen_factor)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
            raise ConfigError(
                f"WideResNet depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, 34, 40), got {depth!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"WideResNet dropout must be in [0, 1), got {dropout!r}")
        self.depth = depth
        self.widen_factor = widen_factor
        n = (depth - 4) // 6
        widths = (16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        self.stem = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        in_planes = 16
        for i, planes in enumerate(widths):
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(WideBasicBlock(in_planes, planes, stride, dropout))
                in_planes = planes
        self.stages = nn.Sequential(*blocks)
        self.final = nn.Sequential(nn.BatchNorm2d(in_planes), nn.ReLU(inplace=True))
        self._make_head(in_planes)
        init_conv_bn(self)

    def _features(self, x: Tensor) -> Tensor:
        return self.final(self.stages(self.stem(x))).mean(dim=(2, 3))


class WRN28_10(WideResNet):
    """WideResNet-28-10 (Zagoruyko & Komodakis 2016); 36.48M parameters for 10 classes.

    Args:
        num_classes: number of output logits.
        dropout: dropout probability inside each block.
        in_channels: input channels.
        mean: per-channel mean for the normalisation inside the model, or None.
        std: per-channel standard deviation, or None.
    """

    def __init__(
        self,
        num_classes: int,
        dropout: float = 0.0,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(num_classes, 28, 10, dropout, in_channels, mean, std)


class WRN34_10(WideResNet):
    """WideResNet-34-10 (Zagoruyko & Komodakis 2016), the usual backbone of Madry-style
    adversarial training and TRADES on CIFAR; 46.16M parameters for 10 classes.

    Args:
        num_classes: number of output logits.
        dropout: dropout probability inside each block.
        in_channels: input channels.
        mean: per-channel mean for the normalisation inside the model, or None.
        std: per-channel standard deviation, or None.
    """

    def __init__(
        self,
        num_classes: int,
        dropout: float = 0.0,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(num_classes, 34, 10, dropout, in_channels, mean, std)
