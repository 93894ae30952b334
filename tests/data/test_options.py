"""Every bad option stops construction with a one-line ConfigError / DataNotFoundError."""

from __future__ import annotations

import numpy as np
import pytest

from benign.data import DigitsDataModule, SyntheticDataModule
from benign.errors import BenignError, ConfigError, DataNotFoundError


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (
            {"noise_rate": 1.0},
            "noise_rate must be in [0, 1), got 1.0: pass a fraction such as --data.noise_rate 0.2",
        ),
        ({"noise_rate": -0.1}, "noise_rate must be in [0, 1), got -0.1"),
        ({"noise_rate": 1.5}, "noise_rate must be in [0, 1), got 1.5"),
        (
            {"noise_type": "gaussian"},
            "unknown noise_type 'gaussian': use one of symmetric, asymmetric, class_subset",
        ),
        ({"label_level": "medium"}, "unknown label_level 'medium': use one of fine, coarse"),
        ({"noise_classes": [3, 10]}, "noise_classes must be distinct class indices in 0..9"),
        ({"noise_classes": []}, "noise_classes must be distinct class indices in 0..9"),
        ({"train_subset": 0}, "train_subset must be a count >= 1 or a fraction in (0, 1]"),
        ({"train_subset": 1.5}, "train_subset must be a count >= 1 or a fraction in (0, 1]"),
        ({"train_subset": -3}, "train_subset must be a count >= 1"),
        ({"train_subset": 5000}, "train_subset=5000 selects 5000 of the 1131 training points"),
        ({"val_split": 0}, "val_split must be a count >= 1 or a fraction in (0, 1)"),
        ({"val_split": 1.0}, "val_split must be a count >= 1 or a fraction in (0, 1)"),
        ({"val_split": 1257}, "val_split=1257 selects 1257 of the 1257 training points"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"num_workers": -1}, "num_workers must be an integer >= 0"),
        ({"noise_file": "labels.txt"}, "noise_file labels.txt has an unknown suffix"),
    ],
)
def test_bad_option_is_one_line_config_error(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        DigitsDataModule(**kwargs)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_noise_file() -> None:
    with pytest.raises(DataNotFoundError, match="noise_file missing.npy not found"):
        DigitsDataModule(noise_file="missing.npy")


def test_noise_file_of_wrong_length(tmp_path) -> None:
    path = tmp_path / "labels.npy"
    np.save(path, np.zeros(7, dtype=np.int64))
    dm = DigitsDataModule(noise_file=str(path))
    with pytest.raises(ConfigError, match="has 7 labels but digits has 1257 training points"):
        dm.setup("fit")


def test_class_subset_rate_too_high_at_setup() -> None:
    dm = DigitsDataModule(noise_type="class_subset", noise_classes=[1], noise_rate=0.5)
    with pytest.raises(ConfigError) as err:
        dm.setup("fit")
    assert "largest possible rate is 0.10" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"rho": 0.3}, "rho must be in (0, 0.25)"),
        ({"norm": "l1"}, "unknown norm 'l1': use one of linf, l2"),
        ({"num_classes": 5, "num_centres": 3}, "num_classes (5) must not exceed num_centres (3)"),
        ({"num_centres": 500, "rho": 0.1, "dim": 2}, "cannot place 500 centres 4*rho = 0.4 apart"),
        ({"num_classes": 1}, "num_classes must be an integer >= 2"),
    ],
)
def test_bad_synthetic_options(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        SyntheticDataModule(**kwargs)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_errors_are_benign_errors() -> None:
    assert issubclass(ConfigError, BenignError) and issubclass(DataNotFoundError, BenignError)
