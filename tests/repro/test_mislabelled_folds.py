"""E4's cleanlab baseline: fold files, the one claim per group, cleanlab's ranking."""

from __future__ import annotations

import numpy as np
import pytest

from benign.data import DigitsDataModule
from benign.rank.metrics import ranking_metrics
from benign.repro.experiments import mislabelled_folds as folds

pytest.importorskip("cleanlab")


def test_group_key_ignores_only_the_fold_number():
    args = ["--config", "erm.yaml", "--data.num_folds", "5", "--data.holdout_fold", "0"]
    other_fold = args[:-1] + ["3"]
    other_seed = ["--seed_everything", "1", *args]
    assert folds.group_key(args) == folds.group_key(other_fold) != folds.group_key(other_seed)


def test_folds_assemble_once_complete_and_only_with_their_key(tmp_path):
    folder = str(tmp_path)
    folds.save_fold(folder, 0, "k", np.array([3, 1]), np.array([[0.3, 0.7], [0.1, 0.9]]))
    assert folds.completed_folds(folder, 2, "k") is None  # fold 1 missing
    folds.save_fold(folder, 1, "old", np.array([0, 2]), np.ones((2, 2)) / 2)
    assert folds.completed_folds(folder, 2, "k") is None  # another grid's fold
    folds.save_fold(folder, 1, "k", np.array([0, 2]), np.array([[0.5, 0.5], [0.8, 0.2]]))
    positions, probs = folds.completed_folds(folder, 2, "k")
    assert positions.tolist() == [0, 1, 2, 3]
    assert probs[:, 1].tolist() == [0.5, 0.9, 0.2, 0.7]


def test_one_cell_claims_a_group_and_keeps_its_claim(tmp_path):
    assert folds.claim(str(tmp_path), "k", "fold3")
    assert not folds.claim(str(tmp_path), "k", "fold1")
    assert folds.claim(str(tmp_path), "k", "fold3")  # a rerun of the claimant
    assert folds.claim(str(tmp_path), "other", "fold1")


def test_cleanlab_ranks_points_the_probabilities_contradict_first():
    dm = DigitsDataModule(noise_rate=0.1)
    dm.setup("fit")
    true = dm.true_targets.numpy()
    probs = np.full((len(true), 10), 0.02)
    probs[np.arange(len(true)), true] = 0.82  # out-of-sample model: confident in the true class
    ranking = folds.cleanlab_ranking(probs, np.arange(len(true)), dm)
    n = int(dm.noisy_mask.sum())
    assert ranking_metrics(ranking)["precision_at_n"] == 1.0
    assert ranking["flagged"].sum() == n and ranking.loc[ranking["flagged"], "planted"].all()
    assert folds.flagged_metrics(ranking) == {
        "n_flagged": float(n), "precision_flagged": 1.0, "recall_flagged": 1.0
    }  # fmt: skip
