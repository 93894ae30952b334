"""AutoAttack's settings read back from the torchattacks objects it runs (Croce & Hein 2020),
and the plain-torch APGD and Ensemble: per-point starts, feasibility, worst case per point."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benign.attacks import APGD, PGD, APGDEnsemble, Ensemble, per_example_randomness
from benign.attacks._losses import dlr

pytest.importorskip("torchattacks")
from benign.attacks.autoattack import components  # noqa: E402


def settings(attack) -> dict:
    names = ("steps", "n_restarts", "n_target_classes", "multi_targeted", "n_queries", "p_init",
             "loss", "eot_iter", "seed", "eps", "norm")  # fmt: skip
    return {name: getattr(attack, name) for name in names if hasattr(attack, name)}


def test_standard_autoattack_runs_the_published_settings():
    model = nn.Linear(4, 100)
    built = components(model, eps=0.3, norm="linf", version="standard", n_classes=100)
    assert [label for label, _ in built] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    apgd, apgdt, fab, square = (settings(attack) for _, attack in built)
    common = {"seed": 0, "eps": 0.3, "norm": "Linf", "n_restarts": 1}
    assert apgd == {**common, "steps": 100, "loss": "ce", "eot_iter": 1}
    assert apgdt == {**common, "steps": 100, "n_target_classes": 9, "eot_iter": 1}
    assert fab == {**common, "steps": 100, "n_target_classes": 9, "multi_targeted": True}
    assert square == {**common, "n_queries": 5000, "p_init": 0.8, "loss": "margin"}


def test_fewer_classes_fewer_targets_and_the_other_versions():
    model = nn.Linear(4, 5)
    built = dict(components(model, eps=0.5, norm="l2", version="standard", n_classes=5))
    assert built["apgd-t"].n_target_classes == 4 and built["fab-t"].n_target_classes == 4
    assert built["square"].norm == "L2"
    plus = components(model, eps=0.5, norm="l2", version="plus", n_classes=5)
    assert [(label, a.n_restarts) for label, a in plus] == [
        ("apgd-ce", 5), ("apgd-dlr", 5), ("fab", 5), ("square", 1), ("apgd-t", 1), ("fab-t", 1)
    ]  # fmt: skip
    assert all(getattr(a, "steps", 100) == 100 for _, a in plus)
    rand = components(model, eps=0.5, norm="l2", version="rand", n_classes=5)
    assert [(label, a.eot_iter, a.steps) for label, a in rand] == [
        ("apgd-ce", 20, 100), ("apgd-dlr", 20, 100)
    ]  # fmt: skip


def test_dlr_is_scale_and_shift_invariant():
    z, y = torch.randn(6, 10), torch.randint(0, 10, (6,))
    torch.testing.assert_close(dlr(3 * z + 1, y), dlr(z, y))
    t = (y + 1) % 10
    torch.testing.assert_close(dlr(3 * z + 1, y, t), dlr(z, y, t))
    assert torch.equal(dlr(z, y) > 0, z.argmax(1) != y)  # positive exactly when misclassified


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("l2", 0.5)])
def test_apgd_is_feasible_and_independent_of_the_batching(digits, digits_model, norm, eps):
    _, _, x, y = digits
    x, y = x[:40], y[:40]
    for attack in (APGD(eps, steps=10, norm=norm, loss="dlr"), APGDEnsemble(eps, norm, steps=5)):
        with per_example_randomness(torch.arange(40)):
            whole = attack(digits_model, x, y)
        rows = torch.arange(1, 40, 3)
        with per_example_randomness(rows):
            part = attack(digits_model, x[rows], y[rows])
        torch.testing.assert_close(part, whole[rows])
        delta = (whole - x).flatten(1)
        size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
        assert (size <= eps + 1e-5).all() and whole.min() >= 0 and whole.max() <= 1


def test_apgd_beats_pgd_and_the_ensemble_is_the_worst_case(digits, digits_model):
    _, _, x, y = digits
    x, y = x[:200], y[:200]

    def acc(attack) -> float:
        with per_example_randomness(torch.arange(200)):
            x_adv = attack(digits_model, x, y)
        return float((digits_model(x_adv).argmax(1) == y).float().mean())

    pgd, apgd_ce = acc(PGD(0.1, steps=10)), acc(APGD(0.1, steps=10))
    assert apgd_ce <= pgd + 0.01
    members = [APGD(0.1, steps=10), APGD(0.1, steps=10, loss="dlr")]
    ensemble = Ensemble(members, eps=0.1)
    assert acc(ensemble) <= min(apgd_ce, acc(members[1])) + 1e-9
    assert set(ensemble.last_breaks) == {"APGD-CE(10)", "APGD-DLR(10)"}
    assert ensemble.label == "APGD-CE(10) + APGD-DLR(10)"
