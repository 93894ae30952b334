"""The label code works on a LabelSpec and plain arrays, without a DataModule; shared helpers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benign.data import DigitsDataModule
from benign.data.labels import draw_training_labels, restore_training_labels
from benign.data.manifest import checkpoint_state, noise_manifest
from benign.data.spec import LabelSpec, SplitSpec
from benign.errors import ConfigError, check_choice, first_line

SPEC = LabelSpec(
    dataset="toy",
    fine_names=("a", "b", "c", "d"),
    label_level="fine",
    coarse_map=(0, 0, 1, 1),
    coarse_names=("ab", "cd"),
    coarse_map_name="halves",
    noise_rate=0.25,
    noise_type="symmetric",
    noise_seed=1,
    noise_classes=(0, 1),
)
FINE = np.arange(40) % 4


def test_labels_are_drawn_from_a_spec_and_arrays() -> None:
    sources = np.arange(0, 40, 2)
    labels = draw_training_labels(SPEC, FINE, sources)
    assert int(labels.noisy_mask.sum()) == 5  # round(0.25 * 20)
    assert torch.equal(labels.true_targets, torch.from_numpy(FINE[sources]))
    coarse = dataclasses.replace(SPEC, label_level="coarse")
    assert coarse.num_classes == 2 and coarse.label_names == ["ab", "cd"]
    assert set(draw_training_labels(coarse, FINE, sources).true_targets.tolist()) == {0, 1}


def test_state_round_trip_and_manifest_without_a_data_module() -> None:
    sources = np.arange(30)
    labels = draw_training_labels(SPEC, FINE, sources)
    state = checkpoint_state(SPEC, labels, (1, 2, 2))
    assert state["dataset"] == "toy" and state["input_shape"] == [1, 2, 2]
    back = restore_training_labels(SPEC, state, FINE, sources, "data")
    assert torch.equal(back.observed_targets, labels.observed_targets)
    with pytest.raises(ConfigError, match="another training split of toy"):
        restore_training_labels(SPEC, state, FINE, sources[1:], "data")
    manifest = noise_manifest(SPEC, SplitSpec(0.1, None, 0), labels)
    assert str(manifest["dataset"]) == "toy" and str(manifest["train_subset"]) == ""
    assert manifest["class_names"].tolist() == ["a", "b", "c", "d"]


def test_a_data_module_exposes_its_specs_read_only() -> None:
    dm = DigitsDataModule(noise_rate=0.2, label_level="coarse", train_subset=300)
    assert dm.label_spec.noise_rate == dm.noise_rate == 0.2
    assert dm.split_spec.train_subset == dm.train_subset == 300
    assert dm.noise_classes == [0] and dm.num_classes == 2
    with pytest.raises(AttributeError):
        dm.noise_rate = 0.4  # type: ignore[misc]


def test_check_choice_and_first_line() -> None:
    assert check_choice("norm", "L2", ("linf", "l2"), ignore_case=True) == "l2"
    with pytest.raises(ConfigError) as err:
        check_choice("--model", "x", ("a", "b"), owner="benign bench", fix=" (see --help)")
    assert str(err.value) == "benign bench: unknown --model 'x': use one of a, b (see --help)"
    assert first_line("\n  first \nsecond") == "first"
    assert first_line(KeyError()) == "KeyError" and first_line("") == "unknown error"
