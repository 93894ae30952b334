"""Sanity checks that audit a robustness evaluation (run by :class:`RobustnessEval`).

A robust-accuracy number is only as good as the attack behind it. Following Carlini et al. (2019),
"On Evaluating Adversarial Robustness" (Sec. 5), and Athalye et al. (2018), "Obfuscated Gradients
Give a False Sense of Security", each evaluation checks that:

- ``monotone``: robust accuracy does not increase with eps;
- ``below_clean``: robust accuracy is at most the clean accuracy;
- ``masking``: at a linf eps >= ``masking_eps`` (0.5 by default) robust accuracy is at chance
  level. At linf 0.5 every input in [0, 1] can be moved onto the same all-0.5 image, so no model can
  beat the share of the largest class; more means the attack fails to find what exists (gradient
  masking, Athalye et al. Sec. 3);
- ``stronger_attack``: a much stronger attack (:func:`reference_attack`: APGD-CE, APGD-DLR with
  a restart and APGD-T over 9 targets, 100 iterations each) breaks at most ``tolerance * n + 2``
  of ``n`` sampled points the evaluated attack left robust. Else the reported number overstates
  robustness (the attack has not converged, or is fooled by masking).
- ``gradients``: the input gradient of the attack loss is neither all zero nor non-finite on any
  evaluated batch (a gradient attack cannot move there).

Tolerances absorb sampling noise: ``tolerance`` on whole-split numbers. The stronger-attack
check is paired (the same points, robust under the evaluated attack, attacked again), so its only
noise is which points are sampled: it flags when more than ``tolerance * n + 2`` points fall.
Its power, with the defaults (``n = 200`` sampled points, tolerance 0.02: more than 6 points):
an evaluation that overstates robust accuracy by 10 points is flagged with probability > 0.99,
by 5 points with probability ~0.88, by 3 points ~0.39, while one within 1 point of the
reference is flagged with probability < 0.005 (tails of ``Bin(n, gap)`` above 6). With
``n = 64`` it flags when more than 3 points fall: a 10-point gap with probability ~0.89.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from benign.attacks import APGD, Attack, Ensemble, per_example_randomness
from benign.attacks._losses import attack_loss
from benign.attacks.base import attack_mode, input_gradient
from benign.errors import BenignError

CHECKS = ("monotone", "below_clean", "masking", "stronger_attack", "gradients")


class SanityCheckError(BenignError):
    """A robustness evaluation failed its sanity checks and ``strict`` is set."""


class RobustnessSanityWarning(UserWarning):
    """A robustness evaluation failed one of its sanity checks."""


@dataclass
class SanityReport:
    """Outcome of the checks of one evaluation: ``passed[check]`` and a message per failure."""

    passed: dict[str, bool] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def record(self, check: str, ok: bool, message: str = "") -> None:
        self.passed[check] = bool(ok)
        if not ok:
            self.failures[check] = message

    @property
    def ok(self) -> bool:
        return all(self.passed.values())

    def metrics(self, stage: str) -> dict[str, float]:
        """``{stage}/sanity_ok`` and ``{stage}/sanity_<check>`` (1 passed, 0 failed) for the
        checks that ran."""
        values = {f"{stage}/sanity_{name}": float(ok) for name, ok in self.passed.items()}
        return {f"{stage}/sanity_ok": float(self.ok), **values}

    def summary(self) -> str:
        """One line naming every failed check."""
        return "; ".join(f"{name}: {message}" for name, message in self.failures.items())


# -- the checks on whole-split numbers -------------------------------------------------------
def check_monotone(
    report: SanityReport, eps: Sequence[float], acc: Sequence[float], tol: float
) -> None:
    rises = [
        (a, b, x, y) for a, b, x, y in zip(eps, eps[1:], acc, acc[1:], strict=False) if y > x + tol
    ]
    message = ""
    if rises:
        a, b, x, y = rises[0]
        message = (
            f"robust accuracy rises from {x:.3f} at eps {a:g} to {y:.3f} at eps {b:g}: the attack "
            "misses adversarial points it finds at smaller radii; use more steps or restarts"
        )
    report.record("monotone", not rises, message)


def check_below_clean(
    report: SanityReport, eps: Sequence[float], acc: Sequence[float], clean: float, tol: float
) -> None:
    above = [(e, a) for e, a in zip(eps, acc, strict=True) if a > clean + tol]
    message = ""
    if above:
        e, a = above[0]
        message = (
            f"robust accuracy {a:.3f} at eps {e:g} exceeds the clean accuracy {clean:.3f}: the "
            "attack moves misclassified points back to the right class; check the attack loss"
        )
    report.record("below_clean", not above, message)


def check_masking(
    report: SanityReport,
    eps: Sequence[float],
    acc: Sequence[float],
    norm: str,
    masking_eps: float,
    chance: float,
    tol: float,
) -> None:
    """At the largest linf eps >= ``masking_eps``, robust accuracy must be <= ``chance`` (the
    largest class share) + ``tol``; skipped for l2 or when no eps is that large."""
    if norm != "linf" or not eps or eps[-1] < masking_eps:
        return
    ok = acc[-1] <= chance + tol
    message = (
        f"robust accuracy {acc[-1]:.3f} at linf eps {eps[-1]:g} is above chance ({chance:.3f}), "
        "yet every input can be moved to a constant image there: suspect gradient masking "
        "(try loss: cw, more restarts or AutoAttack)"
    )
    report.record("masking", ok, message)


def check_gradients(report: SanityReport, zero: int, nonfinite: int, batches: int) -> None:
    ok = zero == 0 and nonfinite == 0
    message = (
        f"input gradients of the attack loss are all zero on {zero} and non-finite on {nonfinite} "
        f"of {batches} batches: gradient attacks cannot move there, a sign of gradient masking "
        "or a non-differentiable layer (try loss: cw or a gradient-free attack)"
    )
    report.record("gradients", ok, message)


def check_stronger(
    report: SanityReport, eps: float, n: int, robust: int, broken: int, tol: float
) -> None:
    """Of ``n`` sampled points, ``robust`` survived the evaluated attack and the reference attack
    broke ``broken`` of those: flagged when ``broken > tol * n + 2``."""
    report.record(
        "stronger_attack",
        broken <= tol * n + 2,
        f"a much stronger attack (APGD-CE, APGD-DLR, APGD-T over 9 targets) breaks {broken} of "
        f"the {robust} points the evaluation left robust at eps {eps:g} (of {n} sampled): "
        f"robust accuracy is overstated by about {broken / max(n, 1):.3f}; use the default "
        "attack (benign.attacks.APGDEnsemble) or more steps and restarts",
    )


# -- helpers that touch the model -------------------------------------------------------------
def reference_attack(eps: float, norm: str = "linf") -> Attack:
    """The check's much stronger attack: APGD-CE, APGD-DLR (2 restarts) and APGD-T over 9
    target classes, 100 iterations each, each on the points the previous ones left
    (AutoAttack's white-box part, Croce & Hein 2020, with a DLR restart more)."""
    return Ensemble(
        [
            APGD(eps, steps=100, norm=norm, loss="ce"),
            APGD(eps, steps=100, norm=norm, loss="dlr", restarts=2),
            APGD(eps, steps=100, norm=norm, targets=9),
        ],
        eps=eps,
        norm=norm,
    )


def largest_class_share(targets: Tensor) -> float:
    """Share of the most common label: the best accuracy of a constant prediction."""
    if targets.numel() == 0:
        return 0.0
    return float(torch.bincount(targets.long()).max()) / targets.numel()


class GradientAudit:
    """Accumulates, per evaluated batch, clean correct predictions and whether the input gradient
    of the attack loss is all zero or non-finite: ``counts = [clean_correct, zero_batches,
    nonfinite_batches, batches]``."""

    def __init__(self, loss: str, device: torch.device) -> None:
        self.loss = loss if loss in ("ce", "cw") else "ce"
        self.device = device
        self._counts = [0.0, 0.0, 0.0, 0.0]

    @property
    def counts(self) -> Tensor:
        return torch.tensor(self._counts, device=self.device)

    @torch.inference_mode(False)
    def update(self, model: nn.Module, x: Tensor, y: Tensor) -> None:
        x0 = x.detach().clone().requires_grad_(True)
        with torch.enable_grad(), attack_mode(model, "eval"):
            logits = model(x0)
            grad = input_gradient(attack_loss(self.loss, logits, y.clone()).sum(), x0)
        finite = bool(torch.isfinite(grad).all())
        zero = finite and not bool(grad.abs().amax() > 0)
        correct = float((logits.detach().argmax(1) == y).sum())
        for i, value in enumerate((correct, float(zero), float(not finite), 1.0)):
            self._counts[i] += value


@torch.inference_mode(False)
def reference_breaks(
    model: nn.Module, points: list[tuple[Tensor, Tensor, Tensor]], attack: Attack, seed: int
) -> int:
    """How many of ``points`` (batches ``(x, y, index)``) ``attack`` misclassifies; each point's
    random starts are drawn from ``index + seed`` (the same from any batch or rank)."""
    broken = 0
    for x, y, index in points:
        if not len(y):
            continue
        with per_example_randomness(index + seed):
            x_adv = attack(model, x, y)
        with torch.no_grad():
            broken += int((model(x_adv).argmax(1) != y).sum())
    return broken
