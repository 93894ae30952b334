"""AutoAttack as published (Croce & Hein 2020), from torchattacks' components, for final evaluations.

"Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks"
(Croce, Hein; ICML 2020, arXiv 2003.01690; reference code github.com/fra31/auto-attack). Each
attack runs on the points the previous ones left correctly classified; a point is robust only if
all fail. torchattacks' own ``AutoAttack`` leaves APGD, APGD-T and FAB at its 10-iteration
defaults and APGD-T/FAB-T at ``n_classes - 1`` targets; here every component is set to the
paper's values (see :data:`PUBLISHED`), which :func:`components` builds and tests read back.

Optional dependency: ``pip install 'benign[autoattack]'`` (torchattacks). torchattacks binds the model
at construction, so the adapter builds its attacks at call time, around the model it is given.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import numbers
import warnings
from types import ModuleType
from typing import Any

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
#: The reference code's target classes of APGD-T and FAB-T (fewer when the model has fewer).
TARGETS = 9

#: What each version runs, in order: (label, torchattacks class, its settings). Every attack
#: uses ``seed=0``; 100 iterations for APGD/APGD-T/FAB, 5,000 queries for Square (p_init 0.8).
PUBLISHED: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "standard": [
        ("apgd-ce", "APGD", {"loss": "ce", "steps": 100, "n_restarts": 1}),
        ("apgd-t", "APGDT", {"steps": 100, "n_restarts": 1, "n_target_classes": TARGETS}),
        ("fab-t", "FAB", {"steps": 100, "n_restarts": 1, "multi_targeted": True,
                          "n_target_classes": TARGETS}),
        ("square", "Square", {"n_queries": 5000, "n_restarts": 1, "p_init": 0.8}),
    ],
    "plus": [
        ("apgd-ce", "APGD", {"loss": "ce", "steps": 100, "n_restarts": 5}),
        ("apgd-dlr", "APGD", {"loss": "dlr", "steps": 100, "n_restarts": 5}),
        ("fab", "FAB", {"steps": 100, "n_restarts": 5, "multi_targeted": False}),
        ("square", "Square", {"n_queries": 5000, "n_restarts": 1, "p_init": 0.8}),
        ("apgd-t", "APGDT", {"steps": 100, "n_restarts": 1, "n_target_classes": TARGETS}),
        ("fab-t", "FAB", {"steps": 100, "n_restarts": 1, "multi_targeted": True,
                          "n_target_classes": TARGETS}),
    ],
    "rand": [
        ("apgd-ce", "APGD", {"loss": "ce", "steps": 100, "n_restarts": 1, "eot_iter": 20}),
        ("apgd-dlr", "APGD", {"loss": "dlr", "steps": 100, "n_restarts": 1, "eot_iter": 20}),
    ],
}  # fmt: skip


class AutoAttackWarning(UserWarning):
    """One of AutoAttack's own reliability flags was raised (see :class:`AutoAttack`)."""


def _torchattacks() -> ModuleType:
    try:
        return importlib.import_module("torchattacks")
    except ImportError as err:
        raise ConfigError(_MISSING) from err


def components(
    model: nn.Module, eps: float, norm: str, version: str, n_classes: int, seed: int = 0
) -> list[tuple[str, Any]]:
    """The version's torchattacks attacks around ``model``, set to :data:`PUBLISHED`."""
    torchattacks = _torchattacks()
    built = []
    for label, cls_name, settings in PUBLISHED[version]:
        settings = dict(settings)
        targets = settings.pop("n_target_classes", None)
        cls = getattr(torchattacks, cls_name)
        kwargs = {"norm": {"linf": "Linf", "l2": "L2"}[norm], "eps": eps, "seed": seed}
        if cls_name in ("APGDT", "FAB"):
            kwargs["n_classes"] = n_classes
        attack = cls(model, **kwargs, **settings)
        if targets is not None:  # torchattacks' constructors set n_classes - 1 targets
            attack.n_target_classes = min(targets, n_classes - 1)
        built.append((label, attack))
    return built


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
    """AutoAttack (Croce & Hein 2020) as published, behind the :class:`Attack` interface.

    What runs, each on the points all previous attacks (and the clean input) left correctly
    classified, every one with one restart unless stated and ``seed=0`` (:data:`PUBLISHED`):

    - ``"standard"``: APGD-CE (100 iterations), APGD-T (targeted DLR, 9 target classes x 100
      iterations), FAB-T (9 target classes x 100 iterations), Square (5,000 queries, p_init 0.8);
    - ``"plus"``: APGD-CE and APGD-DLR (5 restarts each), FAB (5 restarts), Square, APGD-T, FAB-T;
    - ``"rand"`` (randomised defences): APGD-CE and APGD-DLR, each averaging 20 gradient draws
      (EOT) per iteration.

    Its reliability flags, as the reference code reports them, are checked on every call,
    warned about (:class:`AutoAttackWarning`) and kept in ``last_flags``: ``zero_gradients``
    (clean points whose input gradient of the cross-entropy is all zero), ``randomized`` (two
    forward passes of the same batch differ: use ``"rand"``) and ``square_breaks`` (points Square
    broke after every white-box attack failed: a sign of gradient masking). ``last_breaks``
    holds how many points each attack broke. The model is in eval mode; the caller's RNG state is
    preserved (torchattacks reseeds the global generator with ``seed`` per attack, so the result
    depends on the batch a point is in, unlike :class:`~benign.attacks.PGD`'s per-point starts).
    The result is projected onto the eps-ball and ``[0, 1]`` once more, to absorb floating-point
    overshoot of the third-party code.

    Args:
        eps: radius in pixel units of inputs in ``[0, 1]``.
        norm: ``"linf"`` or ``"l2"``.
        version: ``"standard"``, ``"plus"`` or ``"rand"``.
        n_classes: number of classes; ``None`` infers it from the model's output on the batch.
            ``"standard"``/``"plus"`` need >= 4 classes, ``"rand"`` >= 3 (the DLR losses).
        seed: seed of the attacks' random starts (0 in the reference code).

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
        self.last_breaks: dict[str, int] = {}
        self.last_flags: dict[str, int] = {}

    @property
    def label(self) -> str:
        return f"AutoAttack-{self.version}"

    def _check_classes(self, n_classes: int) -> None:
        need = _MIN_CLASSES[self.version]
        if n_classes < need:
            raise ConfigError(
                f"AutoAttack version {self.version!r} needs >= {need} classes (its DLR loss), "
                f"got {n_classes}: use benign.attacks.PGD with loss 'cw' and restarts for this task"
            )

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
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
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            self.last_flags = _pre_flags(target, images, y)
            adv = self._run_all(target, images, y, n_classes)
        self._warn()
        if isinstance(target, _AsImages):
            adv = target.unembed(adv)
        adv = adv.detach().to(dtype=x.dtype)
        return feasible(x, adv, self.eps, self.norm)

    def _run_all(self, model: nn.Module, images: Tensor, y: Tensor, n_classes: int) -> Tensor:
        """Each component on the points still robust; counts what each broke."""
        adv = images.clone()
        with torch.no_grad():
            todo = (model(images).argmax(1) == y).nonzero().squeeze(1)
        self.last_breaks = {}
        for label, attack in components(
            model, self.eps, self.norm, self.version, n_classes, self.seed
        ):
            if todo.numel() == 0:
                break
            attack.set_device(images.device)
            x_adv = attack(images[todo], y[todo])
            with torch.no_grad():
                broken = model(x_adv).argmax(1) != y[todo]
            adv[todo[broken]] = x_adv[broken]
            self.last_breaks[label] = int(broken.sum())
            todo = todo[~broken]
        self.last_flags["square_breaks"] = self.last_breaks.get("square", 0)
        return adv

    def _warn(self) -> None:
        flags = self.last_flags
        messages = []
        if flags.get("zero_gradients"):
            messages.append(
                f"{flags['zero_gradients']} points have an all-zero input gradient: gradient-based "
                "attacks cannot move there, the evaluation may be unreliable"
            )
        if flags.get("randomized"):
            messages.append("the forward pass is randomised: use version 'rand'")
        if flags.get("square_breaks") and self.version != "rand":
            messages.append(
                f"Square broke {flags['square_breaks']} points every white-box attack missed: "
                "suspect gradient masking, the evaluation may be unreliable"
            )
        for message in messages:
            warnings.warn(
                f"AutoAttack (eps {self.eps:g}): {message}", AutoAttackWarning, stacklevel=3
            )


def _pre_flags(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, int]:
    """The reference code's checks before attacking: randomised forward, zero gradients."""
    with torch.no_grad():
        randomized = not torch.equal(model(x), model(x))
    x0 = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = nn.functional.cross_entropy(model(x0).float(), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x0)
    zero = int((grad.flatten(1).abs().amax(dim=1) == 0).sum())
    return {"randomized": int(randomized), "zero_gradients": zero}
