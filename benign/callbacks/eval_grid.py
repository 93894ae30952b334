"""Robust accuracy over an eps grid for one batch: nested balls, one clean pass, early exits.

For radii ``e1 < e2`` the feasible set ``B(x, e1) & [0, 1]^d`` lies inside ``B(x, e2) & [0, 1]^d``
(any norm ball), so an adversarial point found at ``e1`` is one at ``e2``: a point broken at a
smaller eps is broken at every larger one. With ``nested=True`` the attack at each eps therefore
runs only on the points still robust at the previous eps (and a point misclassified clean is never
attacked, since the clean point lies in every ball). The counts are upper bounds on robust
accuracy no weaker than attacking every point at every eps, robust accuracy is non-increasing in
eps by construction, and the cost falls with every point broken.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import lightning as L
import torch
from torch import Tensor, nn

from benign.attacks import Attack, attack_label, subset_randomness
from benign.attacks.base import attack_class
from benign.errors import ConfigError


def member_labels(attack: Attack) -> list[str]:
    """The names under which ``attack`` reports the points it broke (its members, in order)."""
    members = getattr(attack, "attacks", None)
    if members:
        labels = [attack_label(member) for member in members]
        return list(dict.fromkeys(labels))
    if attack_label(attack).startswith("AutoAttack"):
        from benign.attacks.autoattack import PUBLISHED

        return [label for label, _, _ in PUBLISHED[attack.version]]
    return [attack_label(attack)]


def empty_stats(attacks: Sequence[Attack], device: torch.device) -> Tensor:
    """Zero counts shaped like :func:`robust_grid`'s (points attacked, broken per member)."""
    width = 1 + max(len(member_labels(attack)) for attack in attacks)
    return torch.zeros(len(attacks), width, device=device)


def robust_grid(
    model: nn.Module, attacks: Sequence[Attack], x: Tensor, y: Tensor, nested: bool = True
) -> tuple[list[Tensor], Tensor]:
    """Per attack (one per eps, increasing), the mask of points still correctly classified, and
    ``[len(attacks), 1 + labels]`` counts: points attacked, then points broken per
    :func:`member_labels` of each attack.

    The attack at grid position ``k`` draws its random starts under ``subset_randomness(rows,
    k)``: a point gets the same starts whichever other points of its batch are still robust.
    """
    with torch.no_grad():
        clean = model(x).argmax(1) == y
    robust, masks = clean, []
    labels = [member_labels(attack) for attack in attacks]
    stats = empty_stats(attacks, x.device)
    for k, attack in enumerate(attacks):
        pool = robust if nested else clean
        rows = pool.nonzero().squeeze(1)
        now = pool.clone()
        if rows.numel() and attack.eps > 0:
            with subset_randomness(rows, k):
                x_adv = attack(model, x[rows], y[rows])
            with torch.no_grad():
                ok = model(x_adv).argmax(1) == y[rows]
            now[rows[~ok]] = False
            stats[k, 0] = rows.numel()
            breaks = dict(getattr(attack, "last_breaks", None) or {labels[k][0]: int((~ok).sum())})
            for j, name in enumerate(labels[k]):
                stats[k, 1 + j] = breaks.get(name, 0)
        robust = now
        masks.append(now)
    return masks, stats


def describe(eps: Sequence[float], attacks: Sequence[Attack], stats: Tensor, nested: bool) -> str:
    """One line per eps: what ran and how many points each attack broke, e.g.
    ``eps 0.1: 212 attacked; APGD-CE(50) broke 150, APGD-DLR(50) broke 3``."""
    lines = []
    for k, (e, attack) in enumerate(zip(eps, attacks, strict=True)):
        if e == 0:
            lines.append("eps 0: clean")
            continue
        names = member_labels(attack)
        broke = ", ".join(f"{name} broke {int(stats[k, 1 + j])}" for j, name in enumerate(names))
        lines.append(f"eps {e:g}: {int(stats[k, 0])} attacked; {broke}")
    scope = (
        "nested (each eps attacks the points robust at the previous one)"
        if nested
        else "every eps attacks every clean-correct point"
    )
    return f"{scope}; " + "; ".join(lines)


def training_eps(model: nn.Module) -> float | None:
    """The radius an adversarially trained module trained at (its ``attack.eps``), else None."""
    eps = getattr(getattr(model, "attack", None), "eps", None)
    return float(eps) if isinstance(eps, (int, float)) and eps > 0 else None


def materialised(attack: Attack) -> Attack:
    """A plain instance for a jsonargparse ``lazy_instance`` default: the lazy wrapper routes
    ``__call__`` of every copy (``with_eps``) to the original, at the original's eps."""
    lazy_args = getattr(attack, "lazy_get_init_args", None)
    if lazy_args is None:
        return attack
    return attack_class(attack)(**lazy_args().as_dict())


def eps_key(eps: float) -> str:
    """The ``@<eps>`` suffix of a metric name: ``robust_acc@0.1``, ``robust_acc@0.03137``."""
    return f"{eps:.4g}"


def validate_eps_list(eps: list[float]) -> list[float]:
    """Check an eps list: non-empty, finite, non-negative, strictly increasing."""
    if not eps:
        raise ConfigError("eps list is empty: give at least one radius, e.g. eps: [0.0, 0.1]")
    values = [float(e) for e in eps]
    if any(not math.isfinite(e) or e < 0 for e in values):
        raise ConfigError(f"eps must be finite and >= 0, got {values}: use radii such as [0, 0.1]")
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ConfigError(
            f"eps must be strictly increasing, got {values}: sort them, e.g. {sorted(set(values))}"
        )
    return values


def correct_count(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    with torch.no_grad():
        return (model(x).argmax(1) == y).sum()


def is_last_epoch(trainer: L.Trainer) -> bool:
    return trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs
