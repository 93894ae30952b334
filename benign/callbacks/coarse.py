"""Scoring a fine-label model on the coarse task (PAPER.md E3)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CoarseLogits(nn.Module):
    """Wrap a fine-label classifier so it outputs coarse logits.

    The logit of superclass ``c`` is ``logsumexp`` of the fine logits of its members, so that
    ``softmax`` of the result is the fine softmax summed within each superclass. An attack on
    this wrapper targets the coarse decision itself.

    Args:
        model: maps inputs to fine logits ``[B, K_fine]``.
        coarse_map: LongTensor ``[K_fine]`` with the superclass index of each fine class.
    """

    def __init__(self, model: nn.Module, coarse_map: Tensor) -> None:
        super().__init__()
        self.model = model
        num_coarse = int(coarse_map.max()) + 1
        membership = torch.zeros(num_coarse, coarse_map.numel(), dtype=torch.bool)
        membership[coarse_map.cpu(), torch.arange(coarse_map.numel())] = True
        self.register_buffer("membership", membership.to(coarse_map.device), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        fine = self.model(x)
        masked = fine.unsqueeze(1).masked_fill(~self.membership, float("-inf"))
        return torch.logsumexp(masked, dim=2)
