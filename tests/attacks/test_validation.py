"""Bad attack arguments fail at construction with one line naming the problem and the fix;
``with_eps`` rescales explicit step sizes; the attacks work as jsonargparse lazy instances."""

from __future__ import annotations

import math
import sys

import pytest
import torch
from jsonargparse import lazy_instance

from benign.attacks import FGSM, PGD, Attack, AutoAttack, TRADESAttack, clamp_to_box, project
from benign.errors import ConfigError

BAD = [
    (PGD, dict(eps=0.1, steps=0), "steps"),
    (PGD, dict(eps=0.1, steps=-3), "steps"),
    (PGD, dict(eps=0.1, steps=2.5), "steps"),
    (PGD, dict(eps=0.1, steps=True), "steps"),
    (PGD, dict(eps=0.1, step_size=0.0), "step_size"),
    (PGD, dict(eps=0.1, step_size=-0.01), "step_size"),
    (PGD, dict(eps=0.1, step_size=math.inf), "step_size"),
    (PGD, dict(eps=-0.1), "eps"),
    (PGD, dict(eps=math.nan), "eps"),
    (PGD, dict(eps="0.1"), "eps"),
    (PGD, dict(eps=0.1, norm="l1"), "norm"),
    (PGD, dict(eps=0.1, loss="kl"), "loss"),
    (PGD, dict(eps=0.1, restarts=0), "restarts"),
    (PGD, dict(eps=0.1, random_start="yes"), "random_start"),
    (PGD, dict(eps=0.1, model_mode="training"), "model_mode"),
    (FGSM, dict(eps=0.1, step_size=0), "step_size"),
    (FGSM, dict(eps=0.1, norm="linfinity"), "norm"),
    (FGSM, dict(eps=-1.0), "eps"),
    (TRADESAttack, dict(eps=0.1, steps=0), "steps"),
    (TRADESAttack, dict(eps=0.1, init_std=-0.1), "init_std"),
    (TRADESAttack, dict(eps=0.1, step_size=-1.0), "step_size"),
    (AutoAttack, dict(eps=0.1, version="fast"), "version"),
    (AutoAttack, dict(eps=0.1, n_classes=2), "classes"),
    (AutoAttack, dict(eps=0.1, n_classes="ten"), "n_classes"),
    (AutoAttack, dict(eps=0.1, norm="l1"), "norm"),
]


@pytest.mark.parametrize("cls, kwargs, name", BAD, ids=[f"{c.__name__}-{n}" for c, _, n in BAD])
def test_bad_arguments_raise_one_line_config_errors(cls, kwargs, name):
    with pytest.raises(ConfigError) as info:
        cls(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(cls.__name__)
    assert name in message
    assert ": " in message  # "<problem>: <fix>"


def test_steps_message_names_the_config_key():
    with pytest.raises(ConfigError, match=r"^PGD steps must be an integer >= 1, got 0: .*steps"):
        PGD(0.1, steps=0)


def test_with_eps_scales_explicit_step_sizes_and_keeps_the_rest():
    attack = PGD(0.1, step_size=0.02, steps=7, norm="l2", random_start=False, restarts=3, loss="cw")
    other = attack.with_eps(0.3)
    assert other is not attack and type(other) is PGD
    assert other.eps == 0.3 and attack.eps == 0.1
    assert other.step_size == pytest.approx(0.06) and attack.step_size == 0.02
    assert (other.steps, other.norm, other.random_start, other.restarts, other.loss) == (
        7, "l2", False, 3, "cw",
    )  # fmt: skip
    # Default step sizes are relative already and stay default.
    assert PGD(0.1, steps=10).with_eps(0.4).step_size is None
    assert PGD(0.1, steps=10).with_eps(0.4).alpha == pytest.approx(0.1)
    assert FGSM(0.1, step_size=0.05).with_eps(0.2).step_size == pytest.approx(0.1)
    assert TRADESAttack(0.1, step_size=0.01).with_eps(0.05).step_size == pytest.approx(0.005)
    assert AutoAttack(0.1, version="rand").with_eps(0.2).version == "rand"
    with pytest.raises(ConfigError):
        attack.with_eps(-1.0)


def test_with_eps_from_zero_keeps_step_size_with_a_warning():
    with pytest.warns(UserWarning, match="cannot rescale"):
        assert PGD(0.0, step_size=0.01).with_eps(0.1).step_size == 0.01


def test_default_step_sizes():
    assert PGD(0.3, steps=40).alpha == pytest.approx(2.5 * 0.3 / 40)
    assert FGSM(0.1).alpha == pytest.approx(0.1)
    assert FGSM(0.1, random_start=True).alpha == pytest.approx(0.125)
    assert TRADESAttack(0.031, steps=10).alpha == pytest.approx(2.5 * 0.031 / 10)


def test_norm_names_are_case_insensitive_and_repr_is_readable():
    attack = PGD(0.1, norm="Linf", loss="CE")
    assert (attack.norm, attack.loss) == ("linf", "ce")
    assert repr(attack).startswith("PGD(eps=0.1, step_size=None, steps=10, norm='linf'")


def test_lazy_instances_work_and_report_the_real_class():
    attack = lazy_instance(PGD, eps=0.1, steps=2)
    x_adv = attack(torch.nn.Linear(4, 3), torch.rand(2, 4), torch.tensor([0, 1]))
    assert (x_adv.shape, attack.eps) == ((2, 4), 0.1)
    assert repr(attack.with_eps(0.2)).startswith("PGD(eps=0.2")
    with pytest.raises(ConfigError, match="^PGD steps"):
        lazy_instance(PGD, eps=0.1, steps=0).with_eps(0.1)


def test_autoattack_without_torchattacks_names_the_extra(monkeypatch):
    expected = r"^AutoAttack needs torchattacks: pip install 'benign\[autoattack\]'$"
    built = AutoAttack(0.1, version="rand")
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # makes the import fail
    with pytest.raises(ConfigError, match=expected):  # at call time
        built(torch.nn.Linear(6, 4), torch.rand(2, 6), torch.tensor([0, 1]))
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    with pytest.raises(ConfigError, match=expected):  # and already at construction
        AutoAttack(0.1)


def test_autoattack_rejects_too_few_classes_at_call_time():
    model = torch.nn.Linear(6, 3)
    with pytest.raises(ConfigError, match="needs >= 4 classes"):
        AutoAttack(0.1)(model, torch.rand(2, 6), torch.tensor([0, 1]))


def test_attack_is_abstract():
    with pytest.raises(TypeError):
        Attack(0.1)  # type: ignore[abstract]


def test_project_and_clamp_to_box():
    delta = torch.tensor([[3.0, -4.0], [0.3, 0.1]])
    assert torch.equal(project(delta, 0.5, "linf"), torch.tensor([[0.5, -0.5], [0.3, 0.1]]))
    l2 = project(delta, 1.0, "l2")
    assert torch.allclose(l2[0], torch.tensor([0.6, -0.8]))
    assert torch.equal(l2[1], delta[1])  # already inside: unchanged
    assert torch.equal(project(torch.zeros(2, 3), 0.5, "l2"), torch.zeros(2, 3))
    assert torch.equal(clamp_to_box(torch.tensor([-0.5, 0.5, 1.5])), torch.tensor([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError):
        project(delta, 1.0, "l1")
