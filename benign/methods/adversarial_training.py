"""Adversarial training (Madry et al., ICLR 2018): minimise the loss on worst-case inputs."""

from __future__ import annotations

from typing import ClassVar

from jsonargparse import lazy_instance
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor
from torch.nn import functional as F

from benign.attacks import PGD, Attack
from benign.methods.base import BackboneFactory, BenignModule


class AdversarialTraining(BenignModule):
    """Madry et al.'s min-max training, ``min_theta E max_{||d|| <= eps} CE(f(x + d), y)``.

    Each training batch is replaced by the examples ``attack`` finds (PGD by default; FGSM with
    random start gives Wong et al.'s "fast" adversarial training). The attack is pluggable in
    YAML via ``class_path``; its ``model_mode`` sets the BatchNorm/dropout mode used while it
    runs (``eval`` by default). PAPER.md E2: such training avoids fitting (some) noisy labels.

    Args:
        attack: the training attack, e.g. ``benign.attacks.PGD`` with ``eps``/``steps``.
        (other arguments: see :class:`~benign.methods.base.BenignModule`)
    """

    method_name: ClassVar[str] = "at"

    def __init__(
        self,
        backbone: BackboneFactory,
        attack: Attack = lazy_instance(PGD, eps=0.1, steps=7),  # noqa: B008 - jsonargparse's lazy default
        num_classes: int = 10,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__(backbone, num_classes, optimizer, lr_scheduler, channels_last, compile)
        self.attack = attack

    def training_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        x_adv = self.attack(self, x, y)
        logits = self(x_adv)
        return F.cross_entropy(logits, y), logits
