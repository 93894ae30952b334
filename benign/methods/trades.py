"""TRADES (Zhang et al., ICML 2019): trade natural accuracy against boundary smoothness."""

from __future__ import annotations

from typing import ClassVar

from jsonargparse import lazy_instance
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor
from torch.nn import functional as F

from benign.attacks import Attack, TRADESAttack
from benign.errors import ConfigError
from benign.methods.base import BackboneFactory, BenignModule


def trades_loss(logits_clean: Tensor, logits_adv: Tensor, y: Tensor, beta: float) -> Tensor:
    """TRADES objective (Zhang et al. 2019, Eq. 5):

    ``CE(f(x), y) + beta * KL(softmax f(x) || softmax f(x'))``, the KL averaged over the batch.
    At ``beta = 0`` it is exactly the cross-entropy of ERM.
    """
    natural = F.cross_entropy(logits_clean, y)
    if beta == 0:
        return natural
    robust = F.kl_div(
        F.log_softmax(logits_adv, dim=1),
        F.log_softmax(logits_clean, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return natural + beta * robust


class TRADES(BenignModule):
    """TRADES training: clean cross-entropy plus ``beta`` times the KL to adversarial outputs.

    Args:
        attack: the inner maximisation; by default the KL attack of TRADES
            (``benign.attacks.TRADESAttack``), any :class:`~benign.attacks.Attack` works.
        beta: the trade-off (6 in the literature for CIFAR-10; 0 gives ERM).
        (other arguments: see :class:`~benign.methods.base.BenignModule`)
    """

    method_name: ClassVar[str] = "trades"

    def __init__(
        self,
        backbone: BackboneFactory,
        attack: Attack = lazy_instance(TRADESAttack, eps=0.1, steps=7),  # noqa: B008 - a config default
        beta: float = 6.0,
        num_classes: int = 10,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        if not beta >= 0:
            raise ConfigError(f"TRADES beta must be >= 0, got {beta}: try --model.beta 6.0")
        super().__init__(backbone, num_classes, optimizer, lr_scheduler, channels_last, compile)
        self.attack = attack
        self.beta = beta

    def training_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if self.beta == 0:
            logits_clean = self(x)
            return F.cross_entropy(logits_clean, y), logits_clean
        if isinstance(self.attack, TRADESAttack) and self.attack.model_mode == "train":
            # The attack's clean pass would repeat this train-mode forward exactly: reuse it.
            logits_clean = self(x)
            p_clean = F.softmax(logits_clean.detach().float(), dim=1)
            x_adv = self.attack(self, x, y, p_clean=p_clean)
        else:
            # As in Zhang et al.'s code: the (eval-mode) attack first, then the training passes,
            # so the clean graph is not held in memory during the attack.
            x_adv = self.attack(self, x, y)
            logits_clean = self(x)
        logits_adv = self(x_adv)
        return trades_loss(logits_clean, logits_adv, y, self.beta), logits_clean
