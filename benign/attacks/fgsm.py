"""The fast gradient sign method (FGSM) and its random-start variant FGSM-RS.

FGSM: Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples" (ICLR 2015):
one step of length eps along the sign of the input gradient of the loss.
FGSM-RS: Wong, Rice, Kolter, "Fast is better than free: Revisiting adversarial training" (ICLR
2020): start from a uniform random point of the eps-ball and take one step of 1.25 * eps, then
project back onto the ball; cheap adversarial training that does not collapse.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from benign.attacks._losses import total_attack_loss
from benign.attacks._projection import ascent_step, feasible, random_in_ball
from benign.attacks._validation import check_bool, check_step_size
from benign.attacks.base import Attack, input_gradient


class FGSM(Attack):
    """One-step attack: FGSM (Goodfellow et al. 2015), or FGSM-RS (Wong et al. 2020).

    The step follows ``sign(grad)`` for linf and the l2-normalised gradient for l2, maximising the
    cross-entropy. The result is projected onto the eps-ball around ``x`` and clipped to ``[0, 1]``.

    Args:
        eps: radius in pixel units of inputs in ``[0, 1]``.
        norm: ``"linf"`` or ``"l2"``.
        random_start: start from a uniform random point of the eps-ball (FGSM-RS).
        step_size: step length; ``None`` means ``eps`` for FGSM and ``1.25 * eps`` for FGSM-RS
            (Wong et al.'s choice).
        model_mode: ``"eval"`` or ``"train"`` (see :mod:`benign.attacks.base`).

    Example::

        >>> attack = FGSM(eps=8 / 255, random_start=True)  # "fast" adversarial training
        >>> x_adv = attack(model, x, y)  # doctest: +SKIP
    """

    _step_attrs = ("step_size",)

    def __init__(
        self,
        eps: float,
        norm: str = "linf",
        random_start: bool = False,
        step_size: float | None = None,
        model_mode: str = "eval",
    ) -> None:
        super().__init__(eps, norm=norm, model_mode=model_mode)
        name = self._name
        self.random_start = check_bool(name, "random_start", random_start)
        self.step_size = check_step_size(name, step_size)

    @property
    def alpha(self) -> float:
        """The step length actually used."""
        if self.step_size is not None:
            return self.step_size
        return 1.25 * self.eps if self.random_start else self.eps

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        if self.random_start:
            start = feasible(x, x + random_in_ball(x, self.eps, self.norm), self.eps, self.norm)
        else:
            start = x
        x_adv = start.detach().requires_grad_(True)
        loss = total_attack_loss("ce", model(x_adv), y)
        grad = input_gradient(loss, x_adv)
        with torch.no_grad():
            step = ascent_step(x_adv.detach(), grad, self.alpha, self.norm)
            return feasible(x, step, self.eps, self.norm)
