"""The E4 ranking: score = the most probable class other than the given label, most suspicious
first, scored against the planted flips."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from benign.repro.mislabelled_ranking import (
    disagreement_scores,
    ranking_frame,
    ranking_metrics,
    suspected_labels,
)

PROBS = np.array(
    [
        [0.70, 0.20, 0.10],  # given 0, agrees: suspect 1 at 0.20
        [0.05, 0.15, 0.80],  # given 1, model prefers 2 at 0.80
        [0.30, 0.45, 0.25],  # given 1, argmax agrees: suspect 0 at 0.30
        [0.10, 0.60, 0.30],  # given 2, model prefers 1 at 0.60
    ]
)
GIVEN = np.array([0, 1, 1, 2])


def test_score_and_suspect_are_the_best_other_class():
    np.testing.assert_allclose(disagreement_scores(PROBS, GIVEN), [0.20, 0.80, 0.30, 0.60])
    np.testing.assert_array_equal(suspected_labels(PROBS, GIVEN), [1, 2, 0, 1])


def test_ranking_is_most_suspicious_first_with_planted_flags():
    data = SimpleNamespace(
        observed_targets=torch.tensor(GIVEN),
        true_targets=torch.tensor([0, 2, 1, 1]),
        noisy_mask=torch.tensor([False, True, False, True]),
        train_source_indices=torch.tensor([10, 11, 12, 13]),
    )
    ranking = ranking_frame(PROBS, np.arange(4), data)
    assert ranking["position"].tolist() == [1, 3, 2, 0]
    assert ranking["suspected"].tolist() == [2, 1, 0, 1]
    assert ranking["predicted"].tolist() == [2, 1, 1, 0]
    assert ranking["source_index"].tolist() == [11, 13, 12, 10]
    metrics = ranking_metrics(ranking)
    assert metrics["precision_at_k"] == 1.0 and metrics["k"] == 1.0
    assert metrics["precision_at_n"] == 1.0 and metrics["average_precision"] == pytest.approx(1.0)
