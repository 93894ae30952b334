"""The attack leaves the model as it found it, and works in every context a caller may be in."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from benign.attacks import FGSM, PGD, Attack, AutoAttack, TRADESAttack, attack_mode
from tests.attacks.helpers import accuracy, robust_accuracy


class Recorder(nn.Module):
    """Identity that records, at each forward, its training flag, whether any parameter of
    ``owner`` requires grad, and whether autograd is on."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[bool, bool, bool]] = []

    def watch(self, owner: nn.Module) -> None:
        # A plain attribute: registering the parent as a submodule would make a cycle.
        object.__setattr__(self, "owner", owner)

    def forward(self, x: Tensor) -> Tensor:
        params_need_grad = any(p.requires_grad for p in self.owner.parameters())
        self.seen.append((self.training, params_need_grad, torch.is_grad_enabled()))
        return x


def make_model() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        Recorder(),
        nn.Dropout(0.5),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 10),
    )
    model[3].watch(model)
    return model


def snapshot(model: nn.Module) -> dict:
    return {
        "modes": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "grad_ids": [None if p.grad is None else id(p.grad) for p in model.parameters()],
        "params": [p.detach().clone() for p in model.parameters()],
        "buffers": [b.clone() for b in model.buffers()],
    }


def assert_same(before: dict, after: dict) -> None:
    assert after["modes"] == before["modes"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["grad_ids"] == before["grad_ids"]
    for g0, g1 in zip(before["grads"], after["grads"], strict=True):
        assert (g0 is None and g1 is None) or torch.equal(g0, g1)
    for key in ("params", "buffers"):
        for t0, t1 in zip(before[key], after[key], strict=True):
            assert torch.equal(t0, t1), key


def prepared_model() -> nn.Sequential:
    """Train mode, one frozen weight, one existing grad, trained-looking BN statistics."""
    model = make_model()
    model.train()
    model[0].weight.requires_grad_(False)
    model[6].weight.grad = torch.randn_like(model[6].weight)
    with torch.no_grad():
        model(torch.rand(16, 1, 8, 8))  # moves the BN running stats off their init
    model[3].seen.clear()
    return model


ATTACKS = [
    PGD(0.1, steps=3),
    PGD(0.5, steps=2, norm="l2", restarts=2, loss="cw"),
    FGSM(0.1),
    FGSM(0.1, random_start=True),
    TRADESAttack(0.1, steps=2),
    AutoAttack(0.3, version="rand"),
]
IDS = ["pgd", "pgd-l2-restarts-cw", "fgsm", "fgsm-rs", "trades", "autoattack"]


@pytest.mark.parametrize("attack", ATTACKS, ids=IDS)
@pytest.mark.parametrize("mixed", [False, True], ids=["train", "mixed"])
def test_eval_mode_attack_restores_model(attack: Attack, mixed: bool):
    model = prepared_model()
    if mixed:
        model[1].eval()  # a frozen BatchNorm inside a training model
        model[4].eval()
    x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 10, (6,))
    before = snapshot(model)
    attack(model, x, y)
    assert_same(before, snapshot(model))
    seen = model[3].seen
    assert seen, "the attack never ran the model"
    # Eval mode everywhere, input gradients only, during every forward of the attack.
    assert all(not training and not params_need_grad for training, params_need_grad, _ in seen)


@pytest.mark.parametrize("attack_cls", [PGD, FGSM, TRADESAttack])
def test_train_mode_attack_uses_batch_stats_and_restores_them(attack_cls):
    model = prepared_model()
    model.eval()
    x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 10, (6,))
    before = snapshot(model)
    attack_cls(0.1, model_mode="train")(model, x, y)
    assert_same(before, snapshot(model))  # running stats and num_batches_tracked restored
    assert all(training and not needs for training, needs, _ in model[3].seen)


def test_state_is_restored_when_the_model_raises():
    model = prepared_model()
    before = snapshot(model)

    class Boom(RuntimeError):
        pass

    def explode(module, inputs):
        if len(model[3].seen) >= 2:
            raise Boom

    handle = model[6].register_forward_pre_hook(explode)
    with pytest.raises(Boom):
        PGD(0.1, steps=5, model_mode="train")(model, torch.rand(4, 1, 8, 8), torch.zeros(4).long())
    handle.remove()
    assert_same(before, snapshot(model))


def test_attack_mode_restores_on_exit():
    model = prepared_model()
    before = snapshot(model)
    with attack_mode(model, "eval"):
        assert not any(m.training for m in model.modules())
        assert not any(p.requires_grad for p in model.parameters())
    assert_same(before, snapshot(model))


@pytest.mark.parametrize("context", ["no_grad", "inference_mode"])
def test_works_without_grad_mode(digits, digits_model, context):
    _, _, x, y = digits
    attack = PGD(0.1, steps=5)
    reference = robust_accuracy(digits_model, attack, x, y, seed=1)
    manager = torch.no_grad() if context == "no_grad" else torch.inference_mode()
    with manager:
        x_in, y_in = x.clone(), y.clone()  # inference tensors under inference_mode
        torch.manual_seed(1)
        x_adv = attack(digits_model, x_in, y_in)
    assert accuracy(digits_model, x_adv, y) == reference
    assert reference < accuracy(digits_model, x, y) - 0.2


def test_input_that_requires_grad_is_left_alone(digits_model):
    x = torch.rand(4, 1, 8, 8, requires_grad=True)
    x_adv = PGD(0.1, steps=2)(digits_model, x, torch.zeros(4).long())
    assert not x_adv.requires_grad and x_adv.grad_fn is None
    assert x.grad is None


def test_bf16_autocast_and_channels_last(digits, digits_model):
    _, _, x, y = digits
    x = x[:200].contiguous(memory_format=torch.channels_last)
    y = y[:200]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for attack in [PGD(0.1, steps=5), FGSM(0.1, random_start=True), TRADESAttack(0.1)]:
            torch.manual_seed(0)
            x_adv = attack(digits_model, x, y)
            assert x_adv.dtype == torch.float32
            assert torch.isfinite(x_adv).all()
            assert (x_adv - x).abs().max() <= 0.1 + 1e-6
            assert 0 <= x_adv.min() and x_adv.max() <= 1
    # The bf16 attack is about as strong as the fp32 one.
    fp32 = robust_accuracy(digits_model, PGD(0.1, steps=5), x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = robust_accuracy(digits_model, PGD(0.1, steps=5), x, y)
    assert abs(bf16 - fp32) <= 0.05


def test_eps_zero_returns_a_copy_without_running_the_model():
    model = make_model()
    x = torch.rand(3, 1, 8, 8)
    for attack in ATTACKS:
        x_adv = attack.with_eps(0.0)(model, x, torch.zeros(3).long())
        assert torch.equal(x_adv, x) and x_adv.data_ptr() != x.data_ptr()
    assert not model[3].seen


class NaNGradient(nn.Module):
    """Finite logits whose input gradient is NaN or inf (sqrt at 0 and a 0 * inf product)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(16, 3)

    def forward(self, x: Tensor) -> Tensor:
        flat = x.flatten(1)
        return self.linear(torch.sqrt(flat * 0.0)) + flat.sum(1, keepdim=True) * 0.0


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_non_finite_input_gradients_leave_a_valid_output(norm):
    x, y = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
    for attack in [
        PGD(0.1, norm=norm, steps=3),
        FGSM(0.1, norm=norm),
        TRADESAttack(0.1, norm=norm),
    ]:
        x_adv = attack(NaNGradient(), x, y)
        assert torch.isfinite(x_adv).all()
        assert 0 <= x_adv.min() and x_adv.max() <= 1
