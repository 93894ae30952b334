"""Auto-PGD (APGD), Croce & Hein 2020, written here in plain PyTorch.

"Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks"
(Croce, Hein; ICML 2020, arXiv 2003.01690), Sec. 3, Algorithm 1: PGD with momentum 0.75 whose
step size starts at ``2 * eps`` and is halved at checkpoints (after 22% of the budget, then ever
shorter phases down to 6%) where the loss has risen in fewer than ``rho = 75%`` of the steps of
the phase, or the step was not cut at the previous checkpoint and the best loss has not improved
since; a halved point restarts from its best iterate. The budget thus adapts itself: no step
size to tune.

Unlike the reference code, a point leaves the run the moment one iterate misclassifies it (APGD's
steps are per point, so the others are unaffected): a broken point costs no more passes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from benign.attacks._losses import attack_loss, dlr
from benign.attacks._projection import (
    ascent_direction,
    clamp_to_box,
    linf_bounds,
    project,
    random_in_ball,
    subset_randomness,
)
from benign.attacks._validation import (
    APGD_LOSSES,
    check_bool,
    check_choice,
    check_restarts,
    check_steps,
)
from benign.attacks.base import Attack, input_gradient
from benign.errors import ConfigError

#: Momentum of APGD's update and the share of rising steps below which a phase halves the step.
MOMENTUM, RHO = 0.75, 0.75


class APGD(Attack):
    """APGD (Croce & Hein 2020) in linf or l2: untargeted, or targeted (APGD-T) over classes.

    ``loss="ce"`` is APGD-CE, ``"dlr"`` APGD-DLR; ``targets=k > 0`` is APGD-T: the targeted DLR
    loss towards each of the ``k`` classes with the highest clean logits after the true one, one
    after the other on the points still unbroken (Croce & Hein's standard setting is 9 targets,
    100 steps, 1 restart). Each restart and target draws its own random start (per point under
    :func:`~benign.attacks.per_example_randomness`). Returns, per point, the first misclassified
    iterate found, else the iterate of highest loss of the last run.

    Args:
        eps: radius in pixel units of inputs in ``[0, 1]``.
        steps: iterations per run (100 in AutoAttack).
        norm: ``"linf"`` or ``"l2"``.
        loss: ``"ce"``, ``"cw"`` (the CW margin) or ``"dlr"`` (ignored when ``targets > 0``).
        restarts: runs per target (or in all, untargeted), each on the points still unbroken.
        targets: 0 (untargeted) or the number of target classes of APGD-T.
        random_start: start from a uniform point of the ball (as the reference code), else ``x``.
        model_mode: ``"eval"`` or ``"train"`` (see :mod:`benign.attacks.base`).

    Example::

        >>> attack = APGD(eps=8 / 255, loss="dlr", targets=9)  # AutoAttack's APGD-T
        >>> x_adv = attack(model, x, y)  # doctest: +SKIP
    """

    def __init__(
        self,
        eps: float,
        steps: int = 100,
        norm: str = "linf",
        loss: str = "ce",
        restarts: int = 1,
        targets: int = 0,
        random_start: bool = True,
        model_mode: str = "eval",
    ) -> None:
        super().__init__(eps, norm=norm, model_mode=model_mode)
        name = self._name
        self.steps = check_steps(name, steps)
        self.loss = check_choice(name, "loss", loss, APGD_LOSSES)
        self.restarts = check_restarts(name, restarts)
        if not isinstance(targets, int) or isinstance(targets, bool) or targets < 0:
            raise ConfigError(
                f"{name} targets must be an integer >= 0, got {targets!r}: set init_args.targets "
                f"of {name} to 0 (untargeted) or the number of target classes (9 in AutoAttack)"
            )
        self.targets = targets
        self.random_start = check_bool(name, "random_start", random_start)

    @property
    def label(self) -> str:
        """A short name of what runs, e.g. ``APGD-CE(100)`` or ``APGD-T(9x100)``."""
        if self.targets:
            return f"APGD-T({self.targets}x{self.steps})"
        runs = f"{self.restarts}x{self.steps}" if self.restarts > 1 else f"{self.steps}"
        return f"APGD-{self.loss.upper()}({runs})"

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        out = x.clone()
        with torch.no_grad():
            clean = model(x).float()
        todo = (clean.argmax(1) == y).nonzero().squeeze(1)
        if self.targets:
            order = clean.argsort(dim=1, descending=True)
            ranks = range(1, min(self.targets, clean.shape[1] - 1) + 1)
        else:
            order, ranks = None, [0]
        stage = 0
        for rank in ranks:
            for _ in range(self.restarts):
                if todo.numel() == 0:
                    return out
                target = None if order is None else order[todo, rank]
                with subset_randomness(todo, stage):
                    x_adv, broken = self._run(model, x[todo], y[todo], target)
                out[todo] = x_adv
                todo = todo[~broken]
                stage += 1
        return out

    def _loss_grad(
        self, model: nn.Module, x_adv: Tensor, y: Tensor, target: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Per-point loss, its input gradient and the predicted class at ``x_adv``."""
        x_adv = x_adv.detach().requires_grad_(True)
        logits = model(x_adv)
        if target is not None:
            loss = dlr(logits, y, target)
        else:
            loss = attack_loss(self.loss, logits, y)
        grad = input_gradient(loss.sum(), x_adv)
        return loss.detach(), grad, logits.detach().argmax(1)

    def _run(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """One run of Algorithm 1; returns the points and which of them are misclassified."""
        eps, norm, n = self.eps, self.norm, self.steps
        phase, phase_min, phase_cut = (
            max(int(0.22 * n), 1),
            max(int(0.06 * n), 1),
            max(int(0.03 * n), 1),
        )
        x_adv = x + random_in_ball(x, eps, norm) if self.random_start else x.clone()
        s = _State(x, y, target, eps, norm)
        s.x_adv = s.feasible(x_adv)
        s.loss, s.grad, pred = self._loss_grad(model, s.x_adv, s.y, s.target)
        out, broken = s.x_adv.clone(), pred != y
        s.init_best()
        s.drop(pred == s.y)
        since = 0
        for i in range(n):
            if s.idx.numel() == 0:
                break
            s.step(MOMENTUM if i > 0 else 1.0)
            loss, s.grad, pred = self._loss_grad(model, s.x_adv, s.y, s.target)
            hit = pred != s.y
            out[s.idx[hit]], broken[s.idx[hit]] = s.x_adv[hit], True
            s.record(loss)
            since += 1
            if since == phase:
                s.checkpoint(RHO * phase)
                since, phase = 0, max(phase - phase_cut, phase_min)
            s.drop(~hit)
        out[s.idx] = s.x_best
        return out, broken


class _State:
    """The per-point state of one APGD run, over the points still attacked (``idx``)."""

    def __init__(self, x: Tensor, y: Tensor, target: Tensor | None, eps: float, norm: str):
        self.x, self.y, self.target, self.eps, self.norm = x, y, target, eps, norm
        self.idx = torch.arange(x.shape[0], device=x.device)
        self.low, self.high = linf_bounds(x, eps) if norm == "linf" else (None, None)
        self.size = torch.full((x.shape[0],), 2.0 * eps, device=x.device, dtype=x.dtype)

    def feasible(self, z: Tensor) -> Tensor:
        if self.norm == "linf":
            return torch.clamp(z, min=self.low, max=self.high)
        return clamp_to_box(self.x + project(z - self.x, self.eps, self.norm))

    def init_best(self) -> None:
        self.x_prev = self.x_adv.clone()
        self.x_best, self.grad_best = self.x_adv.clone(), self.grad.clone()
        self.best = self.loss.clone()
        self.best_at_check = self.best.clone()
        self.cut_at_check = torch.zeros_like(self.best, dtype=torch.bool)
        self.rises = torch.zeros_like(self.best)

    def step(self, momentum: float) -> None:
        """The momentum step of Algorithm 1 (lines 7-8), projected onto the ball and the box."""
        shape = (-1,) + (1,) * (self.x.dim() - 1)
        z = self.feasible(
            self.x_adv + self.size.view(shape) * ascent_direction(self.grad, self.norm)
        )
        new = self.x_adv + momentum * (z - self.x_adv) + (1 - momentum) * (self.x_adv - self.x_prev)
        self.x_prev, self.x_adv = self.x_adv, self.feasible(new)

    def record(self, loss: Tensor) -> None:
        self.rises += (loss > self.loss).to(self.rises.dtype)
        self.loss = loss
        better = loss > self.best
        self.best = torch.where(better, loss, self.best)
        rows = better.nonzero().squeeze(1)
        self.x_best[rows], self.grad_best[rows] = self.x_adv[rows], self.grad[rows]

    def checkpoint(self, min_rises: float) -> None:
        """Halve the step where the phase oscillated or stalled; restart those from their best."""
        stalled = ~self.cut_at_check & (self.best <= self.best_at_check)
        cut = (self.rises < min_rises) | stalled
        self.size = torch.where(cut, self.size / 2, self.size)
        rows = cut.nonzero().squeeze(1)
        self.x_adv[rows], self.grad[rows] = self.x_best[rows], self.grad_best[rows]
        self.cut_at_check, self.best_at_check = cut, self.best.clone()
        self.rises.zero_()

    def drop(self, keep: Tensor) -> None:
        """Stop attacking the points where ``keep`` is false (they are broken)."""
        if bool(keep.all()):
            return
        for name in ("idx", "x", "y", "target", "low", "high", "size", "x_adv", "x_prev",
                     "grad", "loss", "x_best", "grad_best", "best", "best_at_check",
                     "cut_at_check", "rises"):  # fmt: skip
            value = getattr(self, name, None)
            if value is not None:
                setattr(self, name, value[keep])
