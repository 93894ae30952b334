"""Small convolutional networks for digits and MNIST."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from benign.errors import ConfigError
from benign.models.base import Backbone, check_positive


class DigitsCNN(Backbone):
    """Small CNN for the 8x8 scikit-learn digits: two 3x3 conv layers and two dense layers.

    conv 3x3 ``width`` -> ReLU -> conv 3x3 ``2*width`` -> ReLU -> maxpool 2 -> dense
    ``hidden`` -> ReLU (the features) -> dense ``num_classes``. A scaled-down version of the
    MNIST network of Madry et al. (2018); big enough to interpolate noisy digits with SGD in
    tens of epochs, small enough for an epoch in about a second on a CPU.

    Args:
        num_classes: number of output logits.
        in_channels: input channels (1 for digits).
        width: channels of the first conv layer (the second has twice as many).
        hidden: width of the first dense layer, the feature dimension.
        mean: per-channel mean for the normalisation inside the model, or None.
        std: per-channel standard deviation, or None.
        input_size: height and width of the (square) input; must be even.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        width: int = 32,
        hidden: int = 128,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        input_size: int = 8,
    ) -> None:
        super().__init__(num_classes, in_channels, mean, std)
        check_positive(width=width, hidden=hidden, input_size=input_size)
        if input_size % 2:
            raise ConfigError(f"DigitsCNN input_size must be even, got {input_size}")
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        flat = 2 * width * (input_size // 2) ** 2
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU(inplace=True))
        self._make_head(hidden)

    def _features(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(x))


class MadryCNN(Backbone):
    """The MNIST network of Madry et al. (2018), "Towards Deep Learning Models Resistant to
    Adversarial Attacks".

    conv 5x5 32 -> ReLU -> maxpool 2 -> conv 5x5 64 -> ReLU -> maxpool 2 -> dense 1024 -> ReLU
    (the features) -> dense ``num_classes``. "SAME" padding, so 28x28 inputs give 7x7 maps
    (3.27M parameters for 10 classes).

    Args:
        num_classes: number of output logits.
        in_channels: input channels (1 for MNIST).
        input_size: height and width of the (square) input; must be divisible by 4.
        mean: per-channel mean for the normalisation inside the model, or None.
        std: per-channel standard deviation, or None.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        input_size: int = 28,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(num_classes, in_channels, mean, std)
        check_positive(input_size=input_size)
        if input_size % 4:
            raise ConfigError(f"MadryCNN input_size must be divisible by 4, got {input_size}")
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        flat = 64 * (input_size // 4) ** 2
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, 1024), nn.ReLU(inplace=True))
        self._make_head(1024)

    def _features(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(x))
