"""Empirical risk minimisation: natural training on the observed (possibly noisy) labels."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor
from torch.nn import functional as F

from benign.methods.base import BenignModule


class ERM(BenignModule):
    """Natural training: minimise cross-entropy on clean inputs (the paper's "standard training").

    Trained to interpolation it memorises the noisy labels (PAPER.md E1), which Theorem 1 says
    forces adversarial vulnerability.
    """

    method_name: ClassVar[str] = "erm"

    def training_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        logits = self(x)
        return F.cross_entropy(logits, y), logits
