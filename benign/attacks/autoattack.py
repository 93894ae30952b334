"""An adapter to torchattacks' AutoAttack, Croce & Hein 2020, for final evaluations.

"Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks"
(Croce, Hein; ICML 2020, arXiv 2003.01690). The "standard" version runs APGD-CE, APGD-T (targeted
DLR), FAB-T and Square, each on the points the previous ones did not break.

Optional dependency: ``pip install 'benign[autoattack]'`` (torchattacks). torchattacks binds the model
at construction, so the adapter builds its attack at call time, around the model it is given.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import numbers
from types import ModuleType

import torch
from torch import Tensor, nn

from benign.attacks._projection import feasible
from benign.attacks._validation import check_choice
from benign.attacks.base import Attack
from benign.errors import ConfigError

VERSIONS = ("standard", "plus", "rand")
# The DLR losses compare the top logits: APGD-DLR needs 3 classes, targeted DLR needs 4.
_MIN_CLASSES = {"standard": 4, "plus": 4, "rand": 3}
_MISSING = "AutoAttack needs torchattacks: pip install 'benign[autoattack]'"


def _torchattacks() -> ModuleType:
    try:
        return importlib.import_module("torchattacks")
    except ImportError as err:
        raise ConfigError(_MISSING) from err


class _AsImages(nn.Module):
    """Presents a model of inputs ``[B, *shape]`` as a model of square one-channel images.

    torchattacks' AutoAttack assumes 4-d image batches, and its l2 Square attack needs images of at
    least 5x5 pixels. The ``D`` input coordinates fill the first ``D`` pixels of a ``side x side``
    image (``side = max(5, ceil(sqrt(D)))``); the remaining pixels are ignored by the model, so the
    budget an attack spends on them is wasted, never harmful, and they are dropped afterwards.
    """

    def __init__(self, model: nn.Module, shape: torch.Size) -> None:
        super().__init__()
        self.model = model
        self.shape = tuple(shape)
        self.numel = math.prod(self.shape)
        self.side = max(5, math.isqrt(self.numel - 1) + 1)

    def embed(self, x: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1)
        pad = x.new_zeros(x.shape[0], self.side * self.side - self.numel)
        return torch.cat([flat, pad], dim=1).view(x.shape[0], 1, self.side, self.side)

    def unembed(self, images: Tensor) -> Tensor:
        flat = images.reshape(images.shape[0], -1)[:, : self.numel]
        return flat.reshape((images.shape[0],) + self.shape)

    def forward(self, images: Tensor) -> Tensor:
        return self.model(self.unembed(images))


class AutoAttack(Attack):
    """torchattacks' AutoAttack (Croce & Hein 2020) behind the :class:`Attack` interface.

    The model is in eval mode for the attack (AutoAttack's own convention), parameters do not
    require grad, and the caller's global RNG state is preserved (torchattacks reseeds it with
    ``seed``). The result is projected onto the eps-ball and ``[0, 1]`` once more, to absorb
    floating-point overshoot of the third-party code.

    Args:
        eps: radius in pixel units of inputs in ``[0, 1]``.
        norm: ``"linf"`` or ``"l2"``.
        version: ``"standard"``, ``"plus"`` or ``"rand"`` (torchattacks' versions).
        n_classes: number of classes; ``None`` infers it from the model's output on the batch.
            ``"standard"``/``"plus"`` need >= 4 classes, ``"rand"`` >= 3 (the DLR losses).
        seed: seed of the attacks' random starts.

    Example::

        >>> attack = AutoAttack(eps=8 / 255)  # needs pip install 'benign[autoattack]'
        >>> x_adv = attack(model, x, y)  # doctest: +SKIP
    """

    def __init__(
        self,
        eps: float,
        norm: str = "linf",
        version: str = "standard",
        n_classes: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(eps, norm=norm, model_mode="eval")
        name = self._name
        self.version = check_choice(name, "version", version, VERSIONS)
        if n_classes is not None and (
            not isinstance(n_classes, numbers.Integral) or isinstance(n_classes, bool)
        ):
            raise ConfigError(
                f"{name} n_classes must be an integer or empty, got {n_classes!r}: "
                f"set init_args.n_classes of {name} to the number of classes, or leave it empty"
            )
        self.n_classes = None if n_classes is None else int(n_classes)
        if self.n_classes is not None:
            self._check_classes(self.n_classes)
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
            raise ConfigError(
                f"{name} seed must be an integer, got {seed!r}: set init_args.seed of {name} "
                f"to an integer"
            )
        self.seed = int(seed)
        if importlib.util.find_spec("torchattacks") is None:
            raise ConfigError(_MISSING)

    def _check_classes(self, n_classes: int) -> None:
        need = _MIN_CLASSES[self.version]
        if n_classes < need:
            raise ConfigError(
                f"AutoAttack version {self.version!r} needs >= {need} classes (its DLR loss), "
                f"got {n_classes}: use benign.attacks.PGD with loss 'cw' and restarts for this task"
            )

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        torchattacks = _torchattacks()
        n_classes = self.n_classes
        if n_classes is None:
            with torch.no_grad():
                n_classes = int(model(x[:1]).shape[1])
            self._check_classes(n_classes)
        if x.dim() == 4 and min(x.shape[2:]) >= 5:
            target, images = model, x
        else:
            target = _AsImages(model, x.shape[1:])
            images = target.embed(x)
        # torchattacks puts the model back in train mode after the attack if it found it training.
        target.eval()
        attack = torchattacks.AutoAttack(
            target,
            norm={"linf": "Linf", "l2": "L2"}[self.norm],
            eps=self.eps,
            version=self.version,
            n_classes=n_classes,
            seed=self.seed,
        )
        attack.set_device(x.device)
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            x_adv = attack(images, y)
        if isinstance(target, _AsImages):
            x_adv = target.unembed(x_adv)
        x_adv = x_adv.detach().to(dtype=x.dtype)
        return feasible(x, x_adv, self.eps, self.norm)
