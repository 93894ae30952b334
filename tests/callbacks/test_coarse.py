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


class PlantedLogits(nn.Module):
    """Point ``i``'s input holds ``i`` in binary, one pixel a bit (0 or 1), and gets the logit row
    ``table[i]``: a perturbation below 0.5 cannot change which row, and the output depends on the
    input only through a zero-weighted sum, so attacks cannot move it."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)
        self.zero = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bits = (x.flatten(1) > 0.5).long()
        index = (bits * 2 ** torch.arange(bits.shape[1], device=x.device)).sum(1)
        return self.table[index] + self.zero * x.flatten(1).sum(1, keepdim=True)


def test_robustness_eval_counts_coarse_decisions_by_summed_fine_probability():
    """Three kinds of points, 10 each, coarse map 0-4 vs 5-9:
    A (label 5): fine argmax 0, but classes 5-9 hold more probability: fine wrong, coarse right;
    B (label 6): fine argmax 6: both right;  C (label 7): fine argmax 2: both wrong.
    Mapping the fine argmax to its superclass would score A wrong (coarse acc 1/3, not 2/3)."""
    from torch.utils.data import DataLoader, TensorDataset

    from benign.attacks import PGD
    from benign.callbacks import RobustnessEval

    kind_a = torch.tensor([2.0, 0, 0, 0, 0, 1.5, 1.5, 1.5, 1.5, 1.5])
    kind_b, kind_c = torch.zeros(10), torch.zeros(10)
    kind_b[6], kind_c[2] = 3.0, 3.0
    table = torch.cat([kind_a.repeat(10, 1), kind_b.repeat(10, 1), kind_c.repeat(10, 1)])
    labels = torch.tensor([5] * 10 + [6] * 10 + [7] * 10)
    x = ((torch.arange(30).unsqueeze(1) >> torch.arange(5)) & 1).float().view(30, 1, 1, 5)
    model = PlantedLogits(table)
    loader = DataLoader(TensorDataset(x, labels, torch.arange(30)), batch_size=8)
    callback = RobustnessEval(
        attack=PGD(0.1, steps=2), eps=[0.0, 0.1], score_coarse=True, sanity=False
    )
    coarse_map = torch.tensor([0] * 5 + [1] * 5)
    counts = callback.count_correct(model, loader, coarse_map).tolist()
    # [n, robust@0, robust@0.1, coarse_acc, coarse_robust@0, coarse_robust@0.1]
    assert counts == [30, 10, 10, 20, 20, 20]
