"""The training step does no needless work: TRADES reuses a train-mode clean pass, metrics are
accumulated per step and logged once per epoch with the right values."""

from __future__ import annotations

import copy

import lightning as L
import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from benign.attacks import TRADESAttack
from benign.methods import ERM, TRADES, trades_loss


class CountingBNNet(nn.Module):
    """Linear -> BatchNorm -> linear, counting its forward passes."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.fc = nn.Linear(8, num_classes)
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return self.fc(self.body(x.flatten(1)))

    def forward_features(self, x: Tensor) -> Tensor:
        return self.body(x.flatten(1))


def data(n: int = 16, k: int = 3) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 4, generator=g), torch.randint(0, k, (n,), generator=g)


@pytest.mark.parametrize("mode, extra", [("train", 0), ("eval", 1)])
def test_trades_forward_count(mode, extra):
    torch.manual_seed(0)
    module = TRADES(
        CountingBNNet, attack=TRADESAttack(0.1, steps=3, model_mode=mode), num_classes=3
    )
    module.train()
    module.training_loss(*data())
    # clean pass + 3 attack steps + adversarial pass (+ the attack's own clean pass in eval mode)
    assert module.backbone.calls == 5 + extra


def test_trades_with_train_mode_attack_is_unchanged_by_the_reuse():
    torch.manual_seed(0)
    attack = TRADESAttack(0.1, steps=3, model_mode="train")
    module = TRADES(CountingBNNet, attack=attack, beta=6.0, num_classes=3)
    module.train()
    reference = copy.deepcopy(module)
    x, y = data()
    torch.manual_seed(1)
    loss, logits = module.training_loss(x, y)
    # Zhang et al.'s order, with the attack computing its own clean probabilities:
    torch.manual_seed(1)
    logits_clean = reference(x)
    x_adv = attack(reference, x, y)
    expected = trades_loss(logits_clean, reference(x_adv), y, 6.0)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(logits, logits_clean)
    for a, b in zip(module.buffers(), reference.buffers(), strict=True):
        torch.testing.assert_close(a, b)  # BN statistics: same training passes


def test_trades_attack_accepts_precomputed_clean_probabilities():
    model = CountingBNNet(3).eval()
    x, y = data()
    p_clean = F.softmax(model(x), dim=1)
    torch.manual_seed(2)
    own = TRADESAttack(0.1, steps=2)(model, x, y)
    torch.manual_seed(2)
    given = TRADESAttack(0.1, steps=2)(model, x, y, p_clean=p_clean)
    torch.testing.assert_close(own, given)


class LinearNet(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.flatten(1))


def test_epoch_metrics_are_example_weighted_over_uneven_batches():
    x, y = data(n=10)
    loader = DataLoader(TensorDataset(x, y, torch.arange(10)), batch_size=4)  # batches 4, 4, 2
    torch.manual_seed(0)
    module = ERM(LinearNet, num_classes=3, optimizer=lambda p: torch.optim.SGD(p, lr=0.0))
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=loader)
    metrics = trainer.callback_metrics
    assert set(trainer.logged_metrics) == {"train/acc", "train/loss", "val/acc", "val/loss"}
    with torch.no_grad():  # lr 0: the weights never moved, so these are the logged values
        logits = module(x)
    batch_losses = [F.cross_entropy(logits[i : i + 4], y[i : i + 4]) for i in (0, 4, 8)]
    weighted = (4 * batch_losses[0] + 4 * batch_losses[1] + 2 * batch_losses[2]) / 10
    assert not torch.isclose(weighted, torch.stack(batch_losses).mean())  # weighting matters here
    accuracy = float((logits.argmax(1) == y).float().mean())
    for stage in ("train", "val"):
        torch.testing.assert_close(metrics[f"{stage}/loss"], weighted)
        assert float(metrics[f"{stage}/acc"]) == pytest.approx(accuracy)
