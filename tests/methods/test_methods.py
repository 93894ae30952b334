"""Training methods: exact losses and the attack being used where it should be."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from benign.attacks import Attack
from benign.errors import ConfigError
from benign.methods import ERM, TRADES, AdversarialTraining, trades_loss


class TinyNet(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))

    def forward_features(self, x):
        return x.flatten(1)


class ShiftAttack(Attack):
    """A deterministic 'attack' that adds eps to every input, and counts its calls."""

    def __init__(self, eps: float = 0.25) -> None:
        super().__init__(eps=eps)
        self.calls = 0

    def perturb(self, model, x, y):
        self.calls += 1
        return (x + self.eps).clamp(0, 1)


def batch(n=16, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 4, generator=g), torch.randint(0, k, (n,), generator=g)


def test_trades_loss_is_cross_entropy_at_beta_zero():
    logits, logits_adv = torch.randn(8, 5), torch.randn(8, 5)
    y = torch.randint(0, 5, (8,))
    assert torch.equal(trades_loss(logits, logits_adv, y, 0.0), F.cross_entropy(logits, y))


def test_trades_loss_adds_beta_times_batch_mean_kl():
    torch.manual_seed(1)
    logits, logits_adv = torch.randn(8, 5), torch.randn(8, 5)
    y = torch.randint(0, 5, (8,))
    p, q = logits.softmax(1), logits_adv.softmax(1)
    kl = (p * (p.log() - q.log())).sum(1).mean()
    expected = F.cross_entropy(logits, y) + 6.0 * kl
    torch.testing.assert_close(trades_loss(logits, logits_adv, y, 6.0), expected)


def test_erm_loss_is_cross_entropy_on_clean_inputs():
    model = ERM(TinyNet, num_classes=3)
    x, y = batch()
    loss, logits = model.training_loss(x, y)
    torch.testing.assert_close(loss, F.cross_entropy(model(x), y))


def test_adversarial_training_trains_on_the_attack_output():
    attack = ShiftAttack(0.25)
    model = AdversarialTraining(TinyNet, attack=attack, num_classes=3)
    x, y = batch()
    loss, _ = model.training_loss(x, y)
    assert attack.calls == 1
    torch.testing.assert_close(loss, F.cross_entropy(model((x + 0.25).clamp(0, 1)), y))
    assert loss.requires_grad  # the attack left parameter gradients enabled


def test_trades_uses_clean_logits_for_accuracy_and_adversarial_for_kl():
    attack = ShiftAttack(0.25)
    model = TRADES(TinyNet, attack=attack, beta=2.0, num_classes=3)
    x, y = batch()
    loss, logits = model.training_loss(x, y)
    torch.testing.assert_close(logits, model(x))
    expected = trades_loss(model(x), model((x + 0.25).clamp(0, 1)), y, 2.0)
    torch.testing.assert_close(loss, expected)


def test_trades_at_beta_zero_skips_the_attack():
    attack = ShiftAttack(0.25)
    model = TRADES(TinyNet, attack=attack, beta=0.0, num_classes=3)
    x, y = batch()
    loss, _ = model.training_loss(x, y)
    assert attack.calls == 0
    torch.testing.assert_close(loss, F.cross_entropy(model(x), y))


def test_negative_beta_is_a_config_error():
    with pytest.raises(ConfigError, match="beta"):
        TRADES(TinyNet, attack=ShiftAttack(), beta=-1.0, num_classes=3)


def test_default_optimizer_is_sgd_and_a_scheduler_is_attached():
    model = ERM(TinyNet, num_classes=3)
    assert isinstance(model.configure_optimizers(), torch.optim.SGD)
    sched = ERM(
        TinyNet,
        num_classes=3,
        optimizer=lambda p: torch.optim.Adam(p, lr=1e-3),
        lr_scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, 10),
    ).configure_optimizers()
    assert isinstance(sched["optimizer"], torch.optim.Adam)
    assert isinstance(sched["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.StepLR)
