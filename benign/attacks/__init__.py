"""Adversarial attacks, pure PyTorch: ``x_adv = attack(model, x, y)``.

Inputs live in ``[0, 1]`` pixel space (models normalise inside) and ``eps`` is in pixel units.
Attacks are configured without a model (``class_path: benign.attacks.PGD`` in YAML) and receive it
at call time; every attack returns points inside the eps-ball and ``[0, 1]`` and leaves the model
as it found it (modes, ``requires_grad``, ``.grad``, BatchNorm statistics). See
:mod:`benign.attacks.base`.

- :class:`FGSM`: Goodfellow et al. 2015; ``random_start=True`` is FGSM-RS of Wong et al. 2020.
- :class:`PGD`: Madry et al. 2018, linf / l2, random restarts, cross-entropy or CW margin loss.
- :class:`TRADESAttack`: the KL inner maximisation of TRADES, Zhang et al. 2019.
- :class:`APGD`: Auto-PGD of Croce & Hein 2020 (CE, DLR, targeted DLR), plain PyTorch.
- :class:`Ensemble`: per point the worst case over several attacks; :class:`APGDEnsemble` the
  default test evaluation of :class:`~benign.callbacks.RobustnessEval`.
- :class:`AutoAttack`: Croce & Hein 2020 as published, from torchattacks' components
  (``pip install 'benign[autoattack]'``).
"""

from benign.attacks._projection import (
    clamp_to_box,
    per_example_randomness,
    project,
    subset_randomness,
)
from benign.attacks.apgd import APGD
from benign.attacks.autoattack import AutoAttack
from benign.attacks.base import Attack, attack_mode
from benign.attacks.ensemble import APGDEnsemble, Ensemble, attack_label
from benign.attacks.fgsm import FGSM
from benign.attacks.pgd import PGD
from benign.attacks.trades import TRADESAttack

__all__ = [
    "APGD",
    "APGDEnsemble",
    "FGSM",
    "PGD",
    "Attack",
    "AutoAttack",
    "Ensemble",
    "TRADESAttack",
    "attack_label",
    "attack_mode",
    "clamp_to_box",
    "per_example_randomness",
    "project",
    "subset_randomness",
]
