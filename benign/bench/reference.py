"""The baselines ``benign bench`` compares against: a plain-PyTorch training loop (no Lightning)
and torchattacks' PGD (Kim 2020, "Torchattacks: A PyTorch Repository for Adversarial Attacks")."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from benign.bench.timing import Clock
from benign.errors import ConfigError
from benign.methods import default_optimizer


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``precision == "bf16"`` (what Lightning's ``bf16-mixed`` does), else none."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class ReferenceERM:
    """The textbook ERM loop on a copy of a backbone: forward, cross-entropy, backward, SGD step.

    Same optimiser as the methods' default (SGD lr 0.05, momentum 0.9, weight decay 5e-4), same
    loader, memory format and autocast as the Lightning run, so the two differ only by Lightning
    and by what our module adds (metrics, logging).
    """

    def __init__(
        self, backbone: nn.Module, device: torch.device, precision: str, channels_last: bool
    ) -> None:
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        self.model = backbone.to(device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = default_optimizer(self.model.parameters())

    def _inputs(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y.to(self.device, non_blocking=True)

    def run(self, loader: DataLoader, clock: Clock) -> list[float]:
        """Train over ``loader``; the time stamp at the end of every step."""
        self.model.train()
        stamps = []
        for x, y, _ in loader:
            x, y = self._inputs(x, y)
            with autocast(self.device, self.precision):
                loss = F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            stamps.append(clock())
        return stamps


def torchattacks_pgd(
    model: nn.Module, eps: float, alpha: float, steps: int
) -> Callable[[Tensor, Tensor], Tensor]:
    """torchattacks' linf PGD with a random start, the same attack as ``benign.attacks.PGD``."""
    try:
        import torchattacks
    except ImportError as error:
        raise ConfigError(
            "benign bench compares against torchattacks, which is not installed: "
            "pip install 'benign[autoattack]' or leave it out with --cases"
        ) from error
    return torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's per-Trainer info lines (``GPU available: ...``) for a while."""
    import logging

    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
