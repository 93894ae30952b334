"""Memorization metrics on a planted model whose predictions are known exactly."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from benign.callbacks import memorization_counts, memorization_rates


class LookupModel(nn.Module):
    """Predicts ``table[i]`` for the input whose single feature is ``i``."""

    def __init__(self, table: torch.Tensor, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("table", table)
        self.dummy = nn.Parameter(torch.zeros(1))
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pred = self.table[x[:, 0].long()]
        return nn.functional.one_hot(pred, self.num_classes).float() + 0 * self.dummy


def planted(n=100, k=5, n_noisy=20, fit_noisy=15, true_noisy=3, clean_wrong=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    true = torch.randint(0, k, (n,), generator=g)
    noisy = torch.zeros(n, dtype=torch.bool)
    noisy[torch.randperm(n, generator=g)[:n_noisy]] = True
    observed = true.clone()
    observed[noisy] = (true[noisy] + 1) % k
    pred = observed.clone()
    noisy_idx = noisy.nonzero().flatten()
    clean_idx = (~noisy).nonzero().flatten()
    pred[noisy_idx[fit_noisy : fit_noisy + true_noisy]] = true[
        noisy_idx[fit_noisy : fit_noisy + true_noisy]
    ]
    # the remaining noisy points are predicted as neither label
    rest = noisy_idx[fit_noisy + true_noisy :]
    pred[rest] = (true[rest] + 2) % k
    pred[clean_idx[:clean_wrong]] = (true[clean_idx[:clean_wrong]] + 1) % k
    x = torch.arange(n).float().unsqueeze(1)
    loader = DataLoader(TensorDataset(x, observed, torch.arange(n)), batch_size=16)
    return LookupModel(pred, k), loader, true, noisy


def test_memorization_rates_match_the_planted_predictions():
    model, loader, true, noisy = planted()
    rates = memorization_rates(memorization_counts(model, loader, true, noisy))
    assert rates["acc_noisy"] == pytest.approx(15 / 20)
    assert rates["true_acc_noisy"] == pytest.approx(3 / 20)
    assert rates["acc_clean"] == pytest.approx(72 / 80)


def test_noisy_metrics_are_omitted_without_noise():
    model, loader, true, noisy = planted(n_noisy=0, fit_noisy=0, true_noisy=0, clean_wrong=10)
    rates = memorization_rates(memorization_counts(model, loader, true, noisy))
    assert set(rates) == {"acc_clean"}
    assert rates["acc_clean"] == pytest.approx(0.9)


class TrainModeShifts(LookupModel):
    """The planted predictions in eval mode; every prediction one class off in train mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = super().forward(x)
        return logits.roll(1, dims=1) if self.training else logits


def test_points_are_scored_in_eval_mode_and_the_mode_is_restored():
    lookup, loader, true, noisy = planted()
    model = TrainModeShifts(lookup.table, lookup.num_classes)
    model.train()
    rates = memorization_rates(memorization_counts(model, loader, true, noisy))
    assert rates["acc_noisy"] == pytest.approx(15 / 20)  # the eval-mode predictions
    assert rates["acc_clean"] == pytest.approx(72 / 80)
    assert model.training
