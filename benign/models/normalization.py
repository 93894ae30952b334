"""Input normalisation inside the model, and the usual per-channel statistics.

Data and attacks live in [0, 1] pixel space (attack eps are pixel units); each backbone
standardises its input itself with a :class:`Normalize` as its first layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from benign.errors import ConfigError

# Per-channel statistics of the training splits, for inputs scaled to [0, 1].
CIFAR10_MEAN: tuple[float, ...] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, ...] = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN: tuple[float, ...] = (0.5071, 0.4865, 0.4409)
CIFAR100_STD: tuple[float, ...] = (0.2673, 0.2564, 0.2762)
MNIST_MEAN: tuple[float, ...] = (0.1307,)
MNIST_STD: tuple[float, ...] = (0.3081,)
FASHION_MNIST_MEAN: tuple[float, ...] = (0.2860,)
FASHION_MNIST_STD: tuple[float, ...] = (0.3530,)


class Normalize(nn.Module):
    """``(x - mean) / std`` over dimension 1 (channels, or features of ``[B, F]`` inputs).

    Identity when ``mean`` and ``std`` are both None. Otherwise the statistics are registered
    buffers, so they are saved in the ``state_dict`` and follow ``.to(device)``.

    Args:
        mean: per-channel mean, one value per channel (or one value for all), or None.
        std: per-channel standard deviation, all > 0, same length as ``mean``, or None.
        num_channels: the number of channels (features) of the input, for validation.
        allow_scalar: also accept a single value broadcast over all channels.
    """

    mean: Tensor | None
    std: Tensor | None

    def __init__(
        self,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        num_channels: int | None = None,
        allow_scalar: bool = False,
    ) -> None:
        super().__init__()
        if (mean is None) != (std is None):
            raise ConfigError("normalisation needs both mean and std, or neither")
        if mean is None or std is None:
            self.register_buffer("mean", None)
            self.register_buffer("std", None)
            return
        mean_t = _as_vector(mean, "mean")
        std_t = _as_vector(std, "std")
        if num_channels is not None:
            valid = {num_channels, 1} if allow_scalar else {num_channels}
            for name, value in (("mean", mean_t), ("std", std_t)):
                if value.numel() not in valid:
                    raise ConfigError(
                        f"normalisation {name} has {value.numel()} values but the input has "
                        f"{num_channels} channels; give one value per channel"
                    )
        if mean_t.numel() != std_t.numel():
            raise ConfigError(
                f"normalisation mean has {mean_t.numel()} values but std has {std_t.numel()}"
            )
        if not bool(torch.all(std_t > 0)):
            raise ConfigError(f"normalisation std must be > 0, got {std_t.tolist()}")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    @property
    def is_identity(self) -> bool:
        return self.mean is None

    def forward(self, x: Tensor) -> Tensor:
        if self.mean is None or self.std is None:
            return x
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return (x - self.mean.view(shape)) / self.std.view(shape)

    def extra_repr(self) -> str:
        if self.mean is None or self.std is None:
            return "identity"
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"


def _as_vector(values: Sequence[float], name: str) -> Tensor:
    try:
        vector = torch.as_tensor(values, dtype=torch.float32).flatten()
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"normalisation {name} must be a list of numbers, got {values!r}"
        ) from err
    if vector.numel() == 0:
        raise ConfigError(f"normalisation {name} is empty; give one value per channel")
    if not bool(torch.isfinite(vector).all()):
        raise ConfigError(f"normalisation {name} must be finite, got {vector.tolist()}")
    return vector
