"""Coarse maps: presets per dataset, explicit lists, and bad specs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benign.data import (
    CIFAR10DataModule,
    CIFAR100DataModule,
    DigitsDataModule,
    MNISTDataModule,
    SyntheticDataModule,
)
from benign.errors import ConfigError

# The fine->coarse table of CIFAR-100 as commonly derived from the files' coarse_labels.
KNOWN_CIFAR100 = [
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15,
    3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4,
    2, 0, 17, 4, 18, 17, 10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
]  # fmt: skip


def coarse_name(dm, fine_name: str) -> str:
    return dm.coarse_class_names[int(dm.coarse_map[dm.class_names.index(fine_name)])]


def test_cifar10_semantic_is_default() -> None:
    dm = CIFAR10DataModule(label_level="coarse")
    assert dm.num_classes == 2 and dm.coarse_map_name == "semantic"
    assert coarse_name(dm, "truck") == "vehicle"
    assert coarse_name(dm, "frog") == "animal"
    vehicles = {n for n in dm.class_names if coarse_name(dm, n) == "vehicle"}
    assert vehicles == {"airplane", "automobile", "ship", "truck"}
    halves = CIFAR10DataModule(coarse_map="halves")
    assert halves.coarse_map.tolist() == [0] * 5 + [1] * 5


def test_cifar100_superclasses() -> None:
    dm = CIFAR100DataModule(label_level="coarse")
    assert dm.num_classes == 20 and dm.fine_num_classes == 100
    assert coarse_name(dm, "maple_tree") == "trees"
    assert coarse_name(dm, "keyboard") == "household_electrical_devices"
    assert dm.coarse_map.tolist() == KNOWN_CIFAR100
    assert torch.equal(torch.bincount(dm.coarse_map), torch.full((20,), 5))
    # asymmetric partners stay inside the superclass and form 5-cycles: following the partners
    # from any class visits its whole superclass once, in label order, and comes back
    pairs = dm.asymmetric_pairs
    assert sorted(pairs) == sorted(pairs.values()) == list(range(100))  # a permutation
    for source in range(100):
        members = [c for c in range(100) if KNOWN_CIFAR100[c] == KNOWN_CIFAR100[source]]
        cycle = [source]
        while len(cycle) <= 5 and pairs[cycle[-1]] != source:
            cycle.append(pairs[cycle[-1]])
        assert sorted(cycle) == members, (source, cycle)
        start = members.index(source)
        assert cycle == members[start:] + members[:start], (source, cycle)  # the next by label


@pytest.mark.parametrize("cls", [DigitsDataModule, MNISTDataModule])
def test_digit_halves(cls) -> None:
    dm = cls(label_level="coarse")
    assert dm.coarse_map[7] == 1 and dm.coarse_map[4] == 0
    assert dm.coarse_class_names == ["0-4", "5-9"]
    assert dm.label_names == ["0-4", "5-9"]
    assert cls().num_classes == 10 and cls().coarse_map.dtype == torch.long


def test_explicit_list_and_string_list() -> None:
    spec = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    dm = DigitsDataModule(label_level="coarse", coarse_map=spec)
    assert dm.num_classes == 3 and dm.coarse_map.tolist() == spec
    assert dm.coarse_class_names[0] == "0+3+6+9"
    assert DigitsDataModule(coarse_map="[0,1,2,0,1,2,0,1,2,0]").coarse_map.tolist() == spec
    dm.setup("fit")
    assert set(dm.true_targets.tolist()) == {0, 1, 2}


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("animals", "unknown coarse_map 'animals' for digits: use a preset (halves)"),
        ([0, 1, 0], "has 3 entries but there are 10 fine classes"),
        ([0, 0, 0, 0, 0, 2, 2, 2, 2, 2], "must use superclasses 0..C-1"),
        ([0] * 10, "must use superclasses 0..C-1"),
        ([0, 0, 0, 0, 0, 1, 1, 1, 1, -1], "must use superclasses 0..C-1"),
        ("0,x,1", "is not a list of superclass indices"),
    ],
)
def test_bad_coarse_map(spec, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        DigitsDataModule(label_level="coarse", coarse_map=spec)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_bad_preset_lists_valid_ones_for_cifar100() -> None:
    with pytest.raises(ConfigError, match=r"use a preset \(halves, superclasses\)"):
        CIFAR100DataModule(coarse_map="semantic")


def test_synthetic_halves() -> None:
    dm = SyntheticDataModule(num_classes=4, num_centres=8, label_level="coarse")
    assert dm.coarse_map.tolist() == [0, 0, 1, 1] and dm.num_classes == 2
    assert np.array_equal(dm.noise_classes, [0])
