"""--data.num_folds / --data.holdout_fold: cross-fitting without changing the labels."""

from __future__ import annotations

import pytest

from benign.data import DigitsDataModule
from benign.errors import ConfigError


def test_a_fold_is_held_out_of_training_only():
    folds = [DigitsDataModule(noise_rate=0.1, num_folds=3, holdout_fold=i) for i in range(3)]
    plain = DigitsDataModule(noise_rate=0.1)
    plain.setup("fit")
    held_out = []
    for dm in folds:
        dm.setup("fit")
        assert (dm.observed_targets == plain.observed_targets).all()  # same noise draw
        trained, held = dm.split_spec.fold_positions(len(dm.train_eval_dataset))
        seen = {int(i) for _, _, index in dm.train_dataloader() for i in index}
        assert seen == set(trained.tolist()) and not seen & set(held.tolist())
        held_out.append(set(held.tolist()))
    assert set().union(*held_out) == set(range(len(plain.train_eval_dataset)))
    assert sum(len(h) for h in held_out) == len(plain.train_eval_dataset)  # disjoint folds


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_folds": 5}, "give both --data.num_folds and --data.holdout_fold"),
        ({"num_folds": 1, "holdout_fold": 0}, "num_folds must be an integer >= 2, got 1"),
        ({"num_folds": 5, "holdout_fold": 5}, "holdout_fold must be one of 0..4"),
        ({"num_folds": 5, "holdout_fold": -1}, "holdout_fold must be one of 0..4"),
    ],
)
def test_bad_fold_options(options, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        DigitsDataModule(**options)
