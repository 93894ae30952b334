"""Tiny digits fits behind the directional checks: the product's data module (noise, coarse
labels), its methods' training losses (ERM, AT), its attacks and its coarse wrapper, trained
full-batch with Adam on a small MLP so that every fit takes a second or two on one core."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from benign.attacks import PGD, AutoAttack
from benign.callbacks.coarse import CoarseLogits
from benign.data import DigitsDataModule
from benign.methods import ERM, AdversarialTraining
from benign.models import MLP
from benign.rank.ranking import precision_metrics, ranking_table, score_points, split_points

EPS = 0.1  # the digits configs' training and headline eps (pixels in [0, 1])
STEPS = 300  # full-batch Adam steps: ERM interpolates 40% noise well before


@dataclass
class Fit:
    """A trained module and its data: training tensors, the noisy mask, the test split."""

    module: nn.Module
    x: Tensor
    y: Tensor
    true: Tensor
    noisy: Tensor
    test_x: Tensor
    test_y: Tensor
    coarse_map: Tensor
    data: DigitsDataModule


def backbone(num_classes: int) -> MLP:
    return MLP(num_classes, in_features=64, hidden=(128,))


def fit(method: str, seed: int, noise_rate: float = 0.0, label_level: str = "fine") -> Fit:
    """Train ERM or AT (PGD-3 at ``EPS``) on digits' training split, full batch."""
    data = DigitsDataModule(noise_rate=noise_rate, noise_seed=seed, label_level=label_level)
    data.setup("fit")
    torch.manual_seed(seed)
    x, y = data.train_dataset.images, data.train_dataset.targets
    kinds = {"erm": ERM, "at": AdversarialTraining}
    extra = {"attack": PGD(EPS, steps=3)} if method == "at" else {}
    module = kinds[method](backbone, num_classes=data.num_classes, **extra)
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    for _ in range(STEPS):
        loss, _ = module.training_loss(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    module.eval()
    data.setup("test")
    return Fit(module, x, y, data.true_targets, data.noisy_mask, data.test_dataset.images,
               data.test_dataset.targets, data.coarse_map, data)  # fmt: skip


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean())


def robust_accuracy(model: nn.Module, attack, x: Tensor, y: Tensor) -> float:
    """Share of points still correct after ``attack`` (clean-wrong points count as broken)."""
    x_adv = attack(model, x, y)
    return accuracy(model, x_adv, y)


def pgd(eps: float = EPS) -> PGD:
    return PGD(eps, steps=10)


def autoattack(eps: float = EPS) -> AutoAttack:
    return AutoAttack(eps)


def coarse(model: nn.Module, coarse_map: Tensor) -> nn.Module:
    return CoarseLogits(model, coarse_map).eval()


def ranking_precision(f: Fit) -> float:
    """E4: precision@k (k = half the planted flips) of ``benign rank``'s probability ranking of
    the training points by the fitted model."""
    points = split_points(f.data, "train")
    table = ranking_table(score_points(f.module, points, progress=False), points, "probability")
    return precision_metrics(table)["precision_at_k"]
