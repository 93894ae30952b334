"""Property-based tests: every attack returns points inside the eps-ball and [0, 1], shaped like x.

Random tiny models (linear, or a conv with BatchNorm), random shapes, both norms, random eps
including 0, inputs that touch the box edges; 200 examples each.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from benign.attacks import FGSM, PGD, Attack, AutoAttack, TRADESAttack

# Tolerance for float32 rounding of x + delta - x.
TOL = 1e-6
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

shapes = st.sampled_from([(5,), (12,), (1, 4, 4), (3, 4, 4), (2, 3, 5), (1, 8, 8)])
eps_values = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-4, max_value=1.0),
    st.sampled_from([1e-3, 8 / 255, 0.3, 0.5, 1.0, 2.0]),
)


def tiny_model(shape: tuple[int, ...], n_classes: int, seed: int, conv: bool) -> nn.Module:
    torch.manual_seed(seed)
    features = 1
    for size in shape:
        features *= size
    if conv and len(shape) == 3:
        channels = shape[0]
        return nn.Sequential(
            nn.Conv2d(channels, 3, 3, padding=1),
            nn.BatchNorm2d(3),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(3 * shape[1] * shape[2], n_classes),
        )
    return nn.Sequential(nn.Flatten(), nn.Linear(features, n_classes))


def batch(shape: tuple[int, ...], n: int, n_classes: int, seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, *shape), generator=g)
    # Put some coordinates exactly on the box edges, where clipping matters most.
    edge = torch.rand((n, *shape), generator=g)
    x = torch.where(edge < 0.15, torch.zeros_like(x), x)
    x = torch.where(edge > 0.85, torch.ones_like(x), x)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return x, y


def assert_feasible(x: Tensor, x_adv: Tensor, eps: float, norm: str) -> None:
    assert x_adv.shape == x.shape
    assert x_adv.dtype == x.dtype
    assert not x_adv.requires_grad
    assert torch.isfinite(x_adv).all()
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    delta = (x_adv - x).flatten(1)
    if norm == "linf":
        assert delta.abs().max() <= eps + TOL
    else:
        assert delta.norm(dim=1).max() <= eps + TOL
    if eps == 0:
        assert torch.equal(x_adv, x)


def check_attack(attack: Attack, shape: tuple, n: int, n_classes: int, seed: int, conv: bool):
    model = tiny_model(shape, n_classes, seed, conv)
    x, y = batch(shape, n, n_classes, seed)
    x_before = x.clone()
    torch.manual_seed(seed)
    x_adv = attack(model, x, y)
    assert torch.equal(x, x_before), "the attack modified x in place"
    assert_feasible(x, x_adv, attack.eps, attack.norm)


@PROPERTY
@given(
    shape=shapes,
    n=st.integers(1, 4),
    n_classes=st.integers(2, 5),
    seed=st.integers(0, 2**16),
    eps=eps_values,
    norm=st.sampled_from(["linf", "l2"]),
    steps=st.integers(1, 3),
    step_size=st.one_of(st.none(), st.floats(min_value=1e-3, max_value=3.0)),
    random_start=st.booleans(),
    restarts=st.integers(1, 2),
    loss=st.sampled_from(["ce", "cw"]),
    model_mode=st.sampled_from(["eval", "train"]),
    conv=st.booleans(),
)
def test_pgd_stays_feasible(
    shape, n, n_classes, seed, eps, norm, steps, step_size, random_start, restarts, loss,
    model_mode, conv,
):  # fmt: skip
    attack = PGD(eps, step_size, steps, norm, random_start, restarts, loss, model_mode)
    # BatchNorm in train mode needs more than one value per channel.
    check_attack(attack, shape, max(n, 2) if model_mode == "train" else n, n_classes, seed, conv)


@PROPERTY
@given(
    shape=shapes,
    n=st.integers(1, 4),
    n_classes=st.integers(2, 5),
    seed=st.integers(0, 2**16),
    eps=eps_values,
    norm=st.sampled_from(["linf", "l2"]),
    random_start=st.booleans(),
    step_size=st.one_of(st.none(), st.floats(min_value=1e-3, max_value=3.0)),
    conv=st.booleans(),
)
def test_fgsm_stays_feasible(shape, n, n_classes, seed, eps, norm, random_start, step_size, conv):
    attack = FGSM(eps, norm, random_start=random_start, step_size=step_size)
    check_attack(attack, shape, n, n_classes, seed, conv)


@PROPERTY
@given(
    shape=shapes,
    n=st.integers(1, 4),
    n_classes=st.integers(2, 5),
    seed=st.integers(0, 2**16),
    eps=eps_values,
    norm=st.sampled_from(["linf", "l2"]),
    steps=st.integers(1, 3),
    init_std=st.sampled_from([0.0, 0.001, 0.5]),
    conv=st.booleans(),
)
def test_trades_attack_stays_feasible(shape, n, n_classes, seed, eps, norm, steps, init_std, conv):
    attack = TRADESAttack(eps, steps=steps, norm=norm, init_std=init_std)
    check_attack(attack, shape, n, n_classes, seed, conv)


@PROPERTY
@given(
    shape=shapes,
    n=st.integers(1, 3),
    n_classes=st.integers(4, 5),  # the DLR losses need >= 3 (rand) or 4 (standard) classes
    seed=st.integers(0, 2**16),
    eps=eps_values,
    norm=st.sampled_from(["linf", "l2"]),
)
def test_autoattack_stays_feasible(shape, n, n_classes, seed, eps, norm):
    # "rand" (APGD-CE + APGD-DLR): "standard" adds Square, thousands of queries per example.
    check_attack(AutoAttack(eps, norm=norm, version="rand"), shape, n, n_classes, seed, False)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_dtype_and_memory_format_are_kept(dtype, norm):
    model = tiny_model((3, 6, 6), 4, 0, conv=True).to(dtype)
    x, y = batch((3, 6, 6), 4, 4, 0)
    x = x.to(dtype).contiguous(memory_format=torch.channels_last)
    for attack in [
        PGD(0.1, norm=norm, steps=2),
        FGSM(0.1, norm=norm),
        TRADESAttack(0.1, norm=norm),
    ]:
        x_adv = attack(model, x, y)
        assert x_adv.dtype == dtype
        assert x_adv.is_contiguous(memory_format=torch.channels_last)
        assert_feasible(x, x_adv, 0.1, norm)
