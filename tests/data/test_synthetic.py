"""Theorem 1's ball distribution."""

from __future__ import annotations

import pytest
import torch

from benign.data import SyntheticDataModule


@pytest.mark.parametrize("norm, p", [("linf", float("inf")), ("l2", 2.0)])
def test_points_lie_in_their_balls_of_one_class(norm: str, p: float) -> None:
    dm = SyntheticDataModule(
        norm=norm, dim=3, num_centres=12, num_classes=3, rho=0.08, num_train=400
    )
    dm.setup("fit")
    assert dm.input_shape == (3,) and dm.num_classes == 3
    centres = dm.centres
    gaps = torch.cdist(centres, centres, p=p) + torch.eye(12) * 10
    assert gaps.min() >= 4 * dm.rho - 1e-6  # balls disjoint, 2*rho attacks stay out of others
    assert centres.min() >= dm.rho and centres.max() <= 1 - dm.rho
    assert dm.centre_classes.tolist() == [c % 3 for c in range(12)]
    for images, balls, targets in (
        (dm.train_eval_dataset.images, dm.train_ball, dm.true_targets),
        (dm.val_dataset.images, dm.val_ball, dm.val_dataset.targets),
        (dm.test_dataset.images, dm.test_ball, dm.test_dataset.targets),
    ):
        distance = torch.linalg.vector_norm(images - centres[balls], ord=p, dim=1)
        assert distance.max() <= dm.rho + 1e-6
        assert torch.equal(targets, dm.centre_classes[balls])
        assert 0 <= images.min() and images.max() <= 1
    assert len(dm.train_ball) + len(dm.val_ball) == 400 and len(dm.test_ball) == 1000


def test_balls_are_equally_likely_and_seeded() -> None:
    dm = SyntheticDataModule(num_train=4000, num_test=10)
    dm.setup()
    counts = torch.bincount(torch.cat([dm.train_ball, dm.val_ball]), minlength=20).float()
    assert dm.ball_probability == pytest.approx(1 / 20)
    assert (counts / 4000 - 1 / 20).abs().max() < 0.02
    again = SyntheticDataModule(num_train=4000, num_test=10)
    again.setup()
    assert torch.equal(dm.centres, again.centres)
    assert torch.equal(dm.train_eval_dataset.images, again.train_eval_dataset.images)
    other = SyntheticDataModule(num_train=4000, num_test=10, data_seed=1)
    assert not torch.equal(dm.centres, other.centres)


def test_noise_on_synthetic_data() -> None:
    dm = SyntheticDataModule(noise_rate=0.1, num_train=500)
    dm.setup()
    assert abs(dm.realised_noise_rate - 0.1) <= 0.005
    x, y, index = next(iter(dm.train_dataloader()))
    assert x.shape[1:] == (2,) and torch.equal(y, dm.observed_targets[index])
