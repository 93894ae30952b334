"""The attack interface and the bookkeeping every attack shares.

An attack is declared in config (``class_path: benign.attacks.PGD``, ``init_args: {eps: 0.3}``)
before any model exists, so it never binds one: the model is passed at call time,
``x_adv = attack(model, x, y)``. Inputs live in ``[0, 1]`` pixel space (models normalise inside) and
``eps`` is in pixel units.

``Attack.__call__`` does, once for every attack:

- ``model_mode="eval"`` runs the attack with the whole model in eval mode (BatchNorm uses its
  running statistics, dropout is off); ``"train"`` runs it with the whole model in train mode
  (batch statistics, dropout on). Afterwards every submodule gets back its own previous
  ``training`` flag, so mixed-mode models (a frozen BN inside a training model) survive.
- In ``"train"`` mode the forward passes of the attack would update BatchNorm running statistics;
  we snapshot every buffer of the model and restore it afterwards, so the attack has no side
  effect on the model. (Madry et al.'s original code let the attack's passes update them too; here
  only the training step's own forward on the adversarial batch does.)
- Every parameter gets ``requires_grad=False`` for the duration (its previous flag is restored), and
  attacks take ``torch.autograd.grad(loss, x_adv)``: the backward computes input gradients only,
  skips weight gradients, and never touches any parameter's ``.grad``.
- It works inside ``torch.no_grad()`` and ``torch.inference_mode()`` (Lightning's evaluation loops),
  under ``torch.autocast`` and with ``channels_last`` inputs. Losses are computed in float32.
- ``eps == 0`` returns a copy of ``x`` without running the model.
"""

from __future__ import annotations

import abc
import contextlib
import copy
import inspect
import warnings
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from benign.attacks._validation import MODEL_MODES, NORMS, check_choice, check_eps


@contextlib.contextmanager
def attack_mode(model: nn.Module, mode: str = "eval") -> Iterator[nn.Module]:
    """Put ``model`` in the state an attack needs, and restore every bit of it on exit.

    ``mode`` is ``"eval"`` or ``"train"`` (see the module docstring). Restored on exit, also when
    the body raises: each submodule's ``training`` flag, each parameter's ``requires_grad`` and, in
    ``"train"`` mode, every buffer's value (BatchNorm running statistics).
    """
    if mode not in MODEL_MODES:
        raise ValueError(f"unknown model mode {mode!r}; expected one of {MODEL_MODES}")
    modes = [(module, module.training) for module in model.modules()]
    flags = [(param, param.requires_grad) for param in model.parameters()]
    saved_buffers: list[tuple[Tensor, Tensor]] = []
    try:
        if mode == "eval":
            model.eval()
        else:
            with torch.no_grad():
                saved_buffers = [(buf, buf.detach().clone()) for buf in model.buffers()]
            model.train()
        for param, _ in flags:
            param.requires_grad_(False)
        yield model
    finally:
        for param, flag in flags:
            param.requires_grad_(flag)
        for module, training in modes:
            module.training = training
        if saved_buffers:
            with torch.no_grad():
                for buf, saved in saved_buffers:
                    buf.copy_(saved)


def input_gradient(loss: Tensor, x: Tensor) -> Tensor:
    """The gradient of a scalar ``loss`` with respect to ``x`` only (zeros where it does not depend
    on ``x``), via ``torch.autograd.grad``: nothing is accumulated into any ``.grad``."""
    if not loss.requires_grad:
        return torch.zeros_like(x)
    (grad,) = torch.autograd.grad(loss, x, allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad


def attack_class(attack: object) -> type:
    """The class a user named for ``attack``, skipping jsonargparse's ``lazy_instance`` wrappers."""
    for cls in type(attack).__mro__:
        if issubclass(cls, Attack) and not cls.__name__.startswith("LazyInstance_"):
            return cls
    return type(attack)


class Attack(abc.ABC):
    """Base class of every attack: ``x_adv = attack(model, x, y)``.

    Args:
        eps: radius of the threat model in pixel units of inputs in ``[0, 1]``; 0 disables the attack.
        norm: ``"linf"`` or ``"l2"``.
        model_mode: ``"eval"`` (default) or ``"train"``: the mode the model is in during the attack.

    Subclasses implement :meth:`perturb`; callers use ``__call__``, which does the bookkeeping. The
    result is detached, has the shape, dtype and device of ``x``, lies in the eps-ball around ``x``
    and in ``[0, 1]``; ``x`` is never modified.
    """

    #: Names of absolute step-size attributes that :meth:`with_eps` rescales with ``eps``.
    _step_attrs: tuple[str, ...] = ()

    def __init__(self, eps: float, norm: str = "linf", model_mode: str = "eval") -> None:
        name = self._name
        self.eps = check_eps(name, eps)
        self.norm = check_choice(name, "norm", norm, NORMS)
        self.model_mode = check_choice(name, "model_mode", model_mode, MODEL_MODES)

    @property
    def _name(self) -> str:
        return attack_class(self).__name__

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, **extra: Tensor) -> Tensor:
        """Return adversarial inputs for ``model`` at ``(x, y)``, detached, shaped like ``x``.

        ``extra`` keyword tensors go to :meth:`perturb` of attacks that take them (e.g.
        ``TRADESAttack``'s precomputed ``p_clean``).
        """
        if x.dim() < 2:
            raise ValueError(f"x must be a batch [B, ...], got shape {tuple(x.shape)}")
        if y.shape[:1] != x.shape[:1]:
            raise ValueError(f"y must have one label per example of x, got {tuple(y.shape)}")
        if self.eps == 0:
            return x.detach().clone()
        # Gradients are needed even when called from an evaluation loop; inference tensors
        # (created under inference_mode) cannot be saved for backward, hence the clones.
        with torch.inference_mode(False), torch.enable_grad():
            x0 = x.detach()
            y0 = y.detach()
            if x0.is_inference():
                x0 = x0.clone()
            if y0.is_inference():
                y0 = y0.clone()
            with attack_mode(model, self.model_mode):
                x_adv = self.perturb(model, x0, y0, **extra)
        return x_adv.detach()

    @abc.abstractmethod
    def perturb(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        """Compute the adversarial inputs; called by ``__call__`` with the model prepared.

        ``x`` is detached and must not be modified in place.
        """

    def with_eps(self, eps: float) -> Attack:
        """A copy of this attack at radius ``eps``, other arguments kept.

        Explicit absolute step sizes scale by ``eps / self.eps`` so that the attack keeps its
        shape (steps as a fraction of the radius); default step sizes are relative already.
        ``with_eps(0)`` gives an attack that returns its input unchanged.
        """
        new = copy.copy(self)
        new.eps = check_eps(self._name, eps)
        for attr in self._step_attrs:
            value = getattr(self, attr, None)
            if value is None:
                continue
            if self.eps > 0 and new.eps > 0:
                setattr(new, attr, value * new.eps / self.eps)
            elif self.eps == 0 and new.eps > 0:
                warnings.warn(
                    f"{self._name}.with_eps({eps}) from eps=0 cannot rescale "
                    f"{attr}={value}; keeping it unchanged",
                    stacklevel=2,
                )
        return new

    def __repr__(self) -> str:
        cls = attack_class(self)
        params = inspect.signature(cls.__init__).parameters
        args = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in params
            if name != "self" and hasattr(self, name)
        )
        return f"{cls.__name__}({args})"
