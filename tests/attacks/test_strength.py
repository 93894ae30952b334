"""The attacks are strong and behave like attacks: on a small MLP trained on scikit-learn digits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benign.attacks import FGSM, PGD, AutoAttack, TRADESAttack
from tests.attacks.helpers import accuracy, robust_accuracy

EPS_GRID = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5]


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.2])
@pytest.mark.parametrize("loss", ["ce", "cw"])
def test_more_steps_never_raise_robust_accuracy(digits, digits_model, eps, loss):
    _, _, x, y = digits
    noise = 3 / len(y)  # three test points
    accs = [robust_accuracy(digits_model, PGD(eps, steps=k, loss=loss), x, y) for k in (1, 5, 20)]
    assert accs[1] <= accs[0] + noise
    assert accs[2] <= accs[1] + noise
    assert accs[2] <= accuracy(digits_model, x, y)


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("linf", 0.05), ("l2", 0.5)])
def test_restarts_never_raise_robust_accuracy(digits, digits_model, norm, eps):
    _, _, x, y = digits
    one_example = 1 / len(y)
    single = robust_accuracy(digits_model, PGD(eps, steps=5, norm=norm), x, y, seed=3)
    # Same seed: the first restart is the single run, and the worst case is kept per example.
    multi = robust_accuracy(digits_model, PGD(eps, steps=5, norm=norm, restarts=4), x, y, seed=3)
    assert multi <= single + one_example
    assert multi < single  # on this model a few extra points break with restarts


@pytest.mark.parametrize("norm, scale", [("linf", 1.0), ("l2", 8.0)])
def test_robust_accuracy_is_non_increasing_in_eps(digits, digits_model, norm, scale):
    _, _, x, y = digits
    base = PGD(0.1, steps=20, norm=norm)
    accs = [robust_accuracy(digits_model, base.with_eps(e * scale), x, y) for e in EPS_GRID]
    assert accs[0] == accuracy(digits_model, x, y)
    for smaller, larger in zip(accs[:-1], accs[1:], strict=True):
        assert larger <= smaller + 2 / len(y)
    assert accs[-1] < 0.05


def test_eps_half_breaks_everything(digits, digits_model):
    """At linf eps 0.5 every image can be turned grey: robust accuracy is at most chance."""
    _, _, x, y = digits
    chance = 1 / 10
    for attack in [PGD(0.5, steps=10), PGD(0.5, steps=10, loss="cw"), FGSM(0.5, random_start=True)]:
        assert robust_accuracy(digits_model, attack, x, y) <= chance


@pytest.mark.parametrize("eps, alpha, steps", [(0.05, 0.005, 20), (0.1, 0.025, 10)])
def test_pgd_agrees_with_torchattacks(digits, digits_model, eps, alpha, steps):
    torchattacks = pytest.importorskip("torchattacks")
    _, _, x, y = digits
    for seed in (0, 1):
        torch.manual_seed(seed)
        theirs = torchattacks.PGD(
            digits_model, eps=eps, alpha=alpha, steps=steps, random_start=True
        )
        theirs_acc = accuracy(digits_model, theirs(x, y), y)
        ours = PGD(eps, step_size=alpha, steps=steps, random_start=True)
        ours_acc = robust_accuracy(digits_model, ours, x, y, seed=seed)
        assert abs(ours_acc - theirs_acc) <= 0.01


def _kl(model, x, x_adv):
    with torch.no_grad():
        p = F.softmax(model(x), dim=1)
        return F.kl_div(F.log_softmax(model(x_adv), dim=1), p, reduction="none").sum(1)


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("l2", 0.5)])
def test_trades_attack_increases_kl_and_stays_in_ball(digits, digits_model, norm, eps):
    _, _, x, y = digits
    torch.manual_seed(0)
    start = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
    x_adv = TRADESAttack(eps, steps=10, norm=norm)(digits_model, x, y)
    kl_start, kl_adv = _kl(digits_model, x, start), _kl(digits_model, x, x_adv)
    assert kl_adv.mean() > 100 * kl_start.mean()
    assert (kl_adv >= kl_start - 1e-6).float().mean() > 0.95
    delta = (x_adv - x).flatten(1)
    bound = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert bound.max() <= eps + 1e-6
    assert 0 <= x_adv.min() and x_adv.max() <= 1
    # More steps find a larger divergence.
    torch.manual_seed(0)
    x_one = TRADESAttack(eps, steps=1, norm=norm)(digits_model, x, y)
    assert kl_adv.mean() > _kl(digits_model, x, x_one).mean()


def test_fgsm_takes_full_steps_and_fgsm_rs_stays_in_ball(digits, digits_model):
    _, _, x, y = digits
    eps = 0.1
    delta = FGSM(eps)(digits_model, x, y) - x
    room = torch.where(delta > 0, 1 - x, x)  # distance to the box edge in the step's direction
    moved = delta != 0
    assert torch.allclose(delta.abs()[moved], torch.minimum(room, torch.full_like(x, eps))[moved])
    torch.manual_seed(0)
    x_rs = FGSM(eps, random_start=True)(digits_model, x, y)
    assert (x_rs - x).abs().max() <= eps + 1e-6
    assert 0 <= x_rs.min() and x_rs.max() <= 1
    assert robust_accuracy(digits_model, FGSM(eps, random_start=True), x, y) < accuracy(
        digits_model, x, y
    )


def test_autoattack_standard_wiring(digits, digits_model):
    """The standard ensemble runs and breaks every point at a large radius (APGD-CE suffices,
    so Square's 5000 queries are never spent)."""
    _, _, x, y = digits
    assert robust_accuracy(digits_model, AutoAttack(0.3), x[:100], y[:100]) == 0.0
    assert robust_accuracy(digits_model, AutoAttack(2.0, norm="l2"), x[:100], y[:100]) == 0.0
    torch.manual_seed(0)
    rng = torch.get_rng_state()
    AutoAttack(0.3, version="rand")(digits_model, x[:20], y[:20])
    assert torch.equal(torch.get_rng_state(), rng), "AutoAttack must not reseed the caller's RNG"


@pytest.mark.slow
def test_autoattack_is_at_least_as_strong_as_pgd(digits, digits_model):
    _, _, x, y = digits
    x, y = x[:100], y[:100]
    pgd = robust_accuracy(digits_model, PGD(0.1, steps=20, restarts=2), x, y)
    auto = robust_accuracy(digits_model, AutoAttack(0.1), x, y)
    assert auto <= pgd + 0.01
