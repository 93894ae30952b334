"""The interface shared by every backbone: normalise, extract features, classify."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from benign.errors import ConfigError
from benign.models.normalization import Normalize


class Backbone(nn.Module):
    """Base class of the backbones: ``forward(x) = forward_head(forward_features(x))``.

    Inputs are in [0, 1] pixel space; ``self.normalize`` (identity when ``mean``/``std`` are
    None) standardises them first. Subclasses build their layers, implement
    :meth:`_features` (normalised input to ``[B, feature_dim]``) and call :meth:`_make_head`.

    Args:
        num_classes: number of output logits (from the data).
        in_channels: channels of the input (features, for vector inputs).
        mean: per-channel mean for the normalisation inside the model, or None.
        std: per-channel standard deviation, or None.
    """

    feature_dim: int
    num_classes: int
    head: nn.Module

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        *,
        allow_scalar_stats: bool = False,
    ) -> None:
        super().__init__()
        check_positive(num_classes=num_classes, in_channels=in_channels)
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.normalize = Normalize(
            mean, std, num_channels=in_channels, allow_scalar=allow_scalar_stats
        )

    def _make_head(self, feature_dim: int) -> None:
        """Set ``feature_dim`` and the linear classifier on the penultimate features."""
        self.feature_dim = int(feature_dim)
        self.head = nn.Linear(self.feature_dim, self.num_classes)

    def _features(self, x: Tensor) -> Tensor:
        """Map a normalised input to the ``[B, feature_dim]`` penultimate representation."""
        raise NotImplementedError

    def forward_features(self, x: Tensor) -> Tensor:
        """The penultimate representation ``[B, feature_dim]`` of inputs in [0, 1]."""
        return self._features(self.normalize(x))

    def forward_head(self, features: Tensor) -> Tensor:
        """Logits ``[B, num_classes]`` from :meth:`forward_features`' output."""
        return self.head(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def check_positive(**values: int | float) -> None:
    """Raise :class:`ConfigError` for the first argument that is not a positive number."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{name} must be a positive number, got {value!r}")


def init_conv_bn(module: nn.Module) -> None:
    """He et al. (2015) init for convolutions, unit BatchNorm, zero linear biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
