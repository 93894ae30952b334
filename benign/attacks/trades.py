"""The inner maximisation of TRADES, Zhang et al. 2019.

"Theoretically Principled Trade-off between Robustness and Accuracy" (Zhang, Yu, Jiao, Xing,
El Ghaoui, Jordan; ICML 2019, arXiv 1901.08573), Algorithm 1: find
``x' = argmax_{x' in B(x, eps)} KL(softmax f(x) || softmax f(x'))`` by projected gradient ascent
from ``x + init_std * N(0, I)``. The label is not used: the attack pushes the prediction away from
the model's own clean prediction. The outer TRADES loss lives in :mod:`benign.methods`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benign.attacks._projection import ascent_step, feasible
from benign.attacks._validation import check_nonnegative, check_step_size, check_steps
from benign.attacks.base import Attack, input_gradient


class TRADESAttack(Attack):
    """TRADES' KL inner maximisation (Zhang et al. 2019, Alg. 1), linf or l2; ``y`` is ignored.

    The start ``x + init_std * randn`` breaks the symmetry: the KL divergence has a zero gradient at
    ``x' = x``. linf steps follow ``sign(grad)``, l2 steps the normalised gradient; each is followed
    by the projection onto the eps-ball and ``[0, 1]``.

    Args:
        eps: radius in pixel units (Zhang et al.: 0.031 on CIFAR-10, 0.3 on MNIST, linf).
        step_size: absolute step; ``None`` means ``2.5 * eps / steps`` (Zhang et al. use 0.007 for 10
            steps at eps 0.031 on CIFAR-10, 0.01 for 40 steps at 0.3 on MNIST).
        steps: number of ascent steps, >= 1.
        norm: ``"linf"`` or ``"l2"``.
        init_std: standard deviation of the Gaussian start, 0.001 in Zhang et al.
        model_mode: ``"eval"`` (as in Zhang et al.'s code) or ``"train"``.

    Example::

        >>> attack = TRADESAttack(eps=0.031, step_size=0.007, steps=10)
        >>> x_adv = attack(model, x, y)  # doctest: +SKIP
    """

    _step_attrs = ("step_size",)

    def __init__(
        self,
        eps: float,
        step_size: float | None = None,
        steps: int = 10,
        norm: str = "linf",
        init_std: float = 0.001,
        model_mode: str = "eval",
    ) -> None:
        super().__init__(eps, norm=norm, model_mode=model_mode)
        name = self._name
        self.step_size = check_step_size(name, step_size)
        self.steps = check_steps(name, steps)
        self.init_std = check_nonnegative(name, "init_std", init_std)

    @property
    def alpha(self) -> float:
        """The step length actually used: ``step_size``, or ``2.5 * eps / steps`` by default."""
        return self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps

    def perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, p_clean: Tensor | None = None
    ) -> Tensor:
        """``p_clean``: the model's clean softmax probabilities at ``x`` in the attack's
        ``model_mode``, if the caller has them already (saves one forward pass)."""
        eps, norm, alpha = self.eps, self.norm, self.alpha
        with torch.no_grad():
            if p_clean is None:
                p_clean = F.softmax(model(x).float(), dim=1)
            else:
                p_clean = p_clean.detach().float()
            x_adv = feasible(x, x + self.init_std * torch.randn_like(x), eps, norm)
        for _ in range(self.steps):
            x_adv = x_adv.detach().requires_grad_(True)
            log_p_adv = F.log_softmax(model(x_adv).float(), dim=1)
            loss = F.kl_div(log_p_adv, p_clean, reduction="sum")
            grad = input_gradient(loss, x_adv)
            with torch.no_grad():
                x_adv = feasible(x, ascent_step(x_adv.detach(), grad, alpha, norm), eps, norm)
        return x_adv
