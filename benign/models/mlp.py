"""A fully connected network for vector (synthetic) data."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from benign.errors import ConfigError
from benign.models.base import Backbone, check_positive


class MLP(Backbone):
    """Multi-layer perceptron: ``Linear -> ReLU`` per hidden layer, then a linear classifier.

    Takes ``[B, in_features]`` vectors; image tensors ``[B, C, H, W]`` are flattened first
    (``in_features = C * H * W``). The normalisation acts per feature after flattening; a single
    mean/std value (e.g. ``MNIST_MEAN``) is broadcast over all features.

    Args:
        num_classes: number of output logits.
        in_features: input dimension.
        hidden: widths of the hidden layers; the last one is the feature dimension (the input
            itself when empty, i.e. a linear model).
        mean: per-feature mean (``in_features`` values or one), or None.
        std: per-feature standard deviation, or None.
    """

    def __init__(
        self,
        num_classes: int,
        in_features: int,
        hidden: Sequence[int] = (256, 256),
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        check_positive(in_features=in_features)
        super().__init__(num_classes, in_features, mean, std, allow_scalar_stats=True)
        if isinstance(hidden, int):
            raise ConfigError(f"MLP hidden must be a list of widths, got {hidden!r}")
        self.in_features = int(in_features)
        layers: list[nn.Module] = []
        width = self.in_features
        for i, h in enumerate(hidden):
            check_positive(**{f"hidden[{i}]": h})
            layers += [nn.Linear(width, int(h)), nn.ReLU(inplace=True)]
            width = int(h)
        self.body = nn.Sequential(*layers)
        self._make_head(width)

    def forward_features(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"MLP expects {self.in_features} input features, got {x.shape[1]}")
        return self._features(self.normalize(x))

    def _features(self, x: Tensor) -> Tensor:
        return self.body(x)
