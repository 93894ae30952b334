"""Coarse-task scoring of a fine-label model (PAPER.md E3)."""

import torch
from torch import nn

from benign.callbacks import CoarseLogits


def test_coarse_softmax_is_the_fine_softmax_summed_within_superclasses():
    torch.manual_seed(0)
    fine = nn.Linear(6, 10)
    coarse_map = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    x = torch.randn(32, 6)
    coarse = CoarseLogits(fine, coarse_map)
    p_coarse = coarse(x).softmax(1)
    p_fine = fine(x).softmax(1)
    expected = torch.stack([p_fine[:, :5].sum(1), p_fine[:, 5:].sum(1)], dim=1)
    torch.testing.assert_close(p_coarse, expected, atol=1e-6, rtol=1e-5)


def test_coarse_logits_follow_an_uneven_map_and_keep_gradients():
    fine = nn.Linear(4, 5)
    coarse_map = torch.tensor([2, 0, 2, 1, 0])
    x = torch.randn(8, 4, requires_grad=True)
    out = CoarseLogits(fine, coarse_map)(x)
    assert out.shape == (8, 3)
    logits = fine(x)
    torch.testing.assert_close(out[:, 1], torch.logsumexp(logits[:, [3]], dim=1))
    torch.testing.assert_close(out[:, 2], torch.logsumexp(logits[:, [0, 2]], dim=1))
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
