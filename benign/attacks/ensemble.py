"""The worst case over several attacks, per point, as AutoAttack scores robustness.

Croce & Hein (2020) run each attack of their ensemble only on the points the previous ones left
correctly classified, and count a point robust only if every attack failed on it: the robust
accuracy is then an upper bound no weaker than the strongest member, at the cost of attacking the
hard points only. :class:`Ensemble` does this for any list of :class:`Attack`s;
:class:`APGDEnsemble` is the default test evaluation of :class:`~benign.callbacks.RobustnessEval`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from benign.attacks._projection import subset_randomness
from benign.attacks.apgd import APGD
from benign.attacks.base import Attack, attack_class
from benign.errors import ConfigError


def attack_label(attack: Attack) -> str:
    """A short name of an attack for logs: its ``label`` when it has one, else e.g. ``PGD(20)``."""
    label = getattr(attack, "label", None)
    if isinstance(label, str):
        return label
    name = attack_class(attack).__name__
    steps = getattr(attack, "steps", None)
    restarts = getattr(attack, "restarts", 1)
    if steps is None:
        return name
    loss = getattr(attack, "loss", "ce")
    runs = f"{restarts}x{steps}" if restarts > 1 else f"{steps}"
    return f"{name}-{loss.upper()}({runs})"


class Ensemble(Attack):
    """Per point, the first successful attack of ``attacks``, run in order on the points all the
    previous ones (and the clean input) left correctly classified.

    A point is robust only when it is clean-correct and no member breaks it: the ensemble's
    robust accuracy is at most each member's. Every member runs at this ensemble's ``eps`` and
    ``norm`` (:meth:`with_eps` rescales them together). After each call ``last_breaks`` holds,
    per member label, how many points it broke, and ``last_attacked`` how many clean-correct
    points there were.

    Args:
        attacks: the members, in the order they run (cheap and strong first).
        eps: radius in pixel units; replaces each member's.
        norm: ``"linf"`` or ``"l2"``; each member must use it.
    """

    def __init__(self, attacks: Sequence[Attack], eps: float, norm: str = "linf") -> None:
        super().__init__(eps, norm=norm, model_mode="eval")
        if not attacks:
            raise ConfigError("Ensemble needs at least one attack: set init_args.attacks")
        for member in attacks:
            if member.norm != self.norm:
                raise ConfigError(
                    f"Ensemble norm {self.norm!r} but member {attack_label(member)} uses "
                    f"{member.norm!r}: give every member the ensemble's norm"
                )
        self.attacks = [member.with_eps(self.eps) for member in attacks]
        self.last_breaks: dict[str, int] = {}
        self.last_attacked = 0

    @property
    def label(self) -> str:
        return " + ".join(attack_label(member) for member in self.attacks)

    def with_eps(self, eps: float) -> Ensemble:
        new = super().with_eps(eps)
        new.attacks = [member.with_eps(eps) for member in self.attacks]
        new.last_breaks, new.last_attacked = {}, 0
        return new

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        out = x.clone()
        with torch.no_grad():
            todo = (model(x).argmax(1) == y).nonzero().squeeze(1)
        self.last_attacked = int(todo.numel())
        self.last_breaks = {}
        for stage, member in enumerate(self.attacks):
            if todo.numel() == 0:
                break
            with subset_randomness(todo, 1000 + stage):
                x_adv = member(model, x[todo], y[todo])
            with torch.no_grad():
                broken = model(x_adv).argmax(1) != y[todo]
            out[todo[broken]] = x_adv[broken]
            label = attack_label(member)
            self.last_breaks[label] = self.last_breaks.get(label, 0) + int(broken.sum())
            todo = todo[~broken]
        return out


class APGDEnsemble(Ensemble):
    """The default test evaluation of :class:`~benign.callbacks.RobustnessEval`: APGD-CE, then
    APGD-DLR on the points it left, then APGD-T over ``targets`` target classes on the rest.

    The three white-box parts of AutoAttack (Croce & Hein 2020) that do the work on undefended
    and adversarially trained networks, with fewer iterations: APGD adapts its step size to the
    budget, and each attack runs only on the points still robust, so the hard points get the
    whole budget and the easy ones leave after a few steps. ``steps=100, targets=9`` is
    AutoAttack's white-box budget (without FAB-T and Square).

    Args:
        eps: radius in pixel units of inputs in ``[0, 1]``.
        norm: ``"linf"`` or ``"l2"``.
        steps: iterations of each APGD run.
        targets: target classes of APGD-T (0 leaves it out).
    """

    def __init__(self, eps: float, norm: str = "linf", steps: int = 20, targets: int = 0) -> None:
        members: list[Attack] = [
            APGD(eps, steps=steps, norm=norm, loss="ce"),
            APGD(eps, steps=steps, norm=norm, loss="dlr"),
        ]
        if targets:
            members.append(APGD(eps, steps=steps, norm=norm, targets=targets))
        super().__init__(members, eps=eps, norm=norm)
        self.steps, self.targets = members[0].steps, members[-1].targets
