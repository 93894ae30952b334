"""Projected gradient descent (PGD), Madry et al. 2018.

"Towards Deep Learning Models Resistant to Adversarial Attacks" (Madry, Makelov, Schmidt, Tsipras,
Vladu; ICLR 2018, arXiv 1706.06083): maximise the loss within the eps-ball by repeated steepest
ascent steps, each followed by the projection onto the ball and the [0, 1] box.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from benign.attacks._losses import attack_loss, total_attack_loss
from benign.attacks._projection import (
    ascent_step,
    clamp_to_box,
    linf_bounds,
    project,
    random_in_ball,
)
from benign.attacks._validation import (
    LOSSES,
    check_bool,
    check_choice,
    check_restarts,
    check_step_size,
    check_steps,
)
from benign.attacks.base import Attack, input_gradient


class PGD(Attack):
    """PGD of Madry et al. (2018) in the linf or l2 norm, with random restarts.

    Inputs are in ``[0, 1]``; every returned point lies in the eps-ball around ``x`` and in
    ``[0, 1]``. linf steps are ``step_size * sign(grad)``; l2 steps are ``step_size`` along the
    l2-normalised gradient, followed by the l2-ball projection.

    Args:
        eps: radius in pixel units (e.g. 0.3 on MNIST, 8/255 on CIFAR in linf).
        step_size: absolute step length; ``None`` means ``2.5 * eps / steps`` (Madry et al.'s rule
            of thumb: enough to cross the ball and back).
        steps: number of gradient steps, >= 1.
        norm: ``"linf"`` or ``"l2"``.
        random_start: start from a uniform random point of the ball (linf: uniform per coordinate;
            l2: uniform in the ball's volume), as Madry et al. do; else from ``x``.
        restarts: independent runs; per example the worst case is kept: a misclassified point if
            any run found one, and among those (or otherwise) the one of highest loss.
        loss: ``"ce"`` (cross-entropy) or ``"cw"`` (the Carlini & Wagner 2017 margin
            ``max_{j != y} z_j - z_y``).
        model_mode: ``"eval"`` or ``"train"`` (see :mod:`benign.attacks.base`).

    Example::

        >>> attack = PGD(eps=0.3, step_size=0.01, steps=40)  # Madry et al.'s MNIST setting
        >>> x_adv = attack(model, x, y)  # doctest: +SKIP
    """

    _step_attrs = ("step_size",)

    def __init__(
        self,
        eps: float,
        step_size: float | None = None,
        steps: int = 10,
        norm: str = "linf",
        random_start: bool = True,
        restarts: int = 1,
        loss: str = "ce",
        model_mode: str = "eval",
    ) -> None:
        super().__init__(eps, norm=norm, model_mode=model_mode)
        name = self._name
        self.step_size = check_step_size(name, step_size)
        self.steps = check_steps(name, steps)
        self.random_start = check_bool(name, "random_start", random_start)
        self.restarts = check_restarts(name, restarts)
        self.loss = check_choice(name, "loss", loss, LOSSES)

    @property
    def alpha(self) -> float:
        """The step length actually used: ``step_size``, or ``2.5 * eps / steps`` by default."""
        return self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        if self.restarts == 1:
            return self._run(model, x, y)
        best = best_loss = best_wrong = None
        for _ in range(self.restarts):
            x_adv = self._run(model, x, y)
            with torch.no_grad():
                logits = model(x_adv)
                loss = attack_loss(self.loss, logits, y)
                wrong = logits.argmax(dim=1) != y
            if best is None:
                best, best_loss, best_wrong = x_adv, loss, wrong
                continue
            # A misclassified point beats a correct one; otherwise the higher loss wins.
            better = (wrong & ~best_wrong) | ((wrong == best_wrong) & (loss > best_loss))
            best = torch.where(better.view((-1,) + (1,) * (x.dim() - 1)), x_adv, best)
            best_loss = torch.where(better, loss, best_loss)
            best_wrong = best_wrong | wrong
        return best

    def _run(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        """One PGD run from a (random) start; returns the last iterate, like Madry et al."""
        eps, norm, alpha = self.eps, self.norm, self.alpha
        if norm == "linf":
            low, high = linf_bounds(x, eps)

            def to_feasible(z: Tensor) -> Tensor:
                return torch.clamp(z, min=low, max=high)
        else:

            def to_feasible(z: Tensor) -> Tensor:
                return clamp_to_box(x + project(z - x, eps, norm))

        x_adv = to_feasible(x + random_in_ball(x, eps, norm)) if self.random_start else x
        for _ in range(self.steps):
            x_adv = x_adv.detach().requires_grad_(True)
            loss = total_attack_loss(self.loss, model(x_adv), y)
            grad = input_gradient(loss, x_adv)
            with torch.no_grad():
                x_adv = to_feasible(ascent_step(x_adv.detach(), grad, alpha, norm))
        return x_adv
