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
- ``stronger_attack``: twice the steps and one more random restart do not *raise* robust accuracy
  on a sample (an attack that gets worse with more effort is broken or fooled);
- ``converged``: nor do they *lower* it by more than the tolerance (else the reported number
  overstates robustness: the attack has not converged);
- ``gradients``: the input gradient of the attack loss is neither all zero nor non-finite on any
  evaluated batch (a gradient attack cannot move there).

Tolerances absorb sampling noise: ``tolerance`` on whole-split numbers, ``tolerance + 2/n`` on the
``n``-point sample of the stronger-attack checks.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from benign.attacks import PGD, Attack
from benign.attacks._losses import attack_loss
from benign.attacks.base import attack_mode, input_gradient
from benign.errors import BenignError

CHECKS = ("monotone", "below_clean", "masking", "stronger_attack", "converged", "gradients")


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
    report: SanityReport, eps: float, base: float, strong: float, n: int, tol: float
) -> None:
    slack = tol + 2.0 / max(n, 1)
    report.record(
        "stronger_attack",
        strong <= base + slack,
        f"a stronger attack (2x steps, +1 restart) raises robust accuracy at eps {eps:g} from "
        f"{base:.3f} to {strong:.3f} on {n} points: the attack is erratic (gradient masking?)",
    )
    report.record(
        "converged",
        strong >= base - slack,
        f"a stronger attack (2x steps, +1 restart) lowers robust accuracy at eps {eps:g} from "
        f"{base:.3f} to {strong:.3f} on {n} points: the attack has not converged; use more "
        "steps or restarts",
    )


# -- helpers that touch the model -------------------------------------------------------------
def stronger_attack(attack: Attack) -> Attack:
    """``attack`` with twice the steps and one more random restart; an attack without steps
    (FGSM) becomes PGD-20 with two restarts at the same eps and norm."""
    if not hasattr(attack, "steps"):
        return PGD(attack.eps, steps=20, norm=attack.norm, restarts=2)
    strong = copy.copy(attack)
    strong.steps = 2 * attack.steps
    if hasattr(attack, "restarts"):
        strong.restarts = attack.restarts + 1
    if hasattr(attack, "random_start"):
        strong.random_start = True  # restarts only differ from a random start
    if getattr(attack, "step_size", None) is not None:
        strong.step_size = attack.step_size / 2  # the same total path over twice the steps
    return strong


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
def sample_counts(
    model: nn.Module, loader: torch.utils.data.DataLoader, base: Attack, strong: Attack
) -> Tensor:
    """``[n, correct under base, correct under strong]`` over ``loader``, with the random state
    forked so that the extra attacks leave the caller's random stream untouched."""
    device = next(model.parameters()).device
    counts = torch.zeros(3, device=device)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(0)
        for x, y, _ in loader:
            x, y = x.to(device), y.to(device)
            with torch.no_grad():
                base_ok = (model(base(model, x, y)).argmax(1) == y).sum()
                strong_ok = (model(strong(model, x, y)).argmax(1) == y).sum()
            counts += torch.stack(
                [torch.tensor(y.numel(), device=device), base_ok, strong_ok]
            ).float()
    return counts
