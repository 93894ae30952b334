"""The input-dependent noise kinds ``instance`` and ``coverage`` on digits (and small arrays)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benign.data import DigitsDataModule
from benign.data.noise_coverage import covering_radius, farthest_point_order, flat_pixels
from benign.data.noise_instance import instance_noise
from benign.data.splits import round_half_up
from benign.errors import ConfigError

KINDS = ("instance", "coverage")


def build(tmp_path: Path, **kwargs) -> DigitsDataModule:
    dm = DigitsDataModule(data_dir=str(tmp_path), **kwargs)
    dm.setup("fit")
    return dm


def pixels(dm: DigitsDataModule) -> np.ndarray:
    return flat_pixels(dm.train_eval_dataset.images.numpy())


@pytest.mark.parametrize("level", ["fine", "coarse"])
@pytest.mark.parametrize("kind", KINDS)
def test_realised_rate_is_exact_and_every_flip_changes_the_class(
    tmp_path: Path, kind: str, level: str
) -> None:
    dm = build(tmp_path, noise_rate=0.2, noise_type=kind, noise_seed=2, label_level=level)
    n = len(dm.noisy_mask)
    assert int(dm.noisy_mask.sum()) == round_half_up(0.2 * n)
    assert (dm.observed_targets != dm.true_targets).sum() == dm.noisy_mask.sum()
    assert int(dm.observed_targets.max()) < dm.num_classes
    assert (
        dm.val_dataset.targets.tolist()
        == dm.label_spec.to_level(
            np.asarray(dm._raw.train_labels)[dm.val_source_indices.numpy()]
        ).tolist()
    )  # validation stays clean


def test_coverage_classes_are_uniform_over_the_other_classes(tmp_path: Path) -> None:
    dm = build(tmp_path, noise_rate=0.4, noise_type="coverage")
    mask = dm.noisy_mask
    offsets = ((dm.observed_targets[mask] - dm.true_targets[mask]) % 10).numpy()
    counts = np.bincount(offsets, minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 0.5 * counts[1:].mean()


def test_instance_flips_to_the_references_runner_up_where_it_is_confused(tmp_path: Path) -> None:
    dm = build(tmp_path, noise_rate=0.1, noise_type="instance", noise_seed=4)
    manifest = dm.noise_manifest()
    with np.load(str(manifest["noise_reference_file"])) as reference:
        probs = reference["probabilities"]
    true, mask = dm.true_targets.numpy(), dm.noisy_mask.numpy()
    confusion = 1.0 - probs[np.arange(len(true)), true]
    runner_up = probs.copy()
    runner_up[np.arange(len(true)), true] = -1.0
    assert np.array_equal(dm.observed_targets.numpy()[mask], runner_up[mask].argmax(axis=1))
    # chosen with probability rising with the confusion: far more confused than the rest
    assert confusion[mask].mean() > 5 * confusion[~mask].mean()


@pytest.mark.parametrize("kind", KINDS)
def test_determinism_across_constructions_and_seed_dependence(tmp_path: Path, kind: str) -> None:
    first = build(tmp_path, noise_rate=0.2, noise_type=kind, noise_seed=5)
    again = build(tmp_path / "fresh", noise_rate=0.2, noise_type=kind, noise_seed=5)
    other = build(tmp_path, noise_rate=0.2, noise_type=kind, noise_seed=6)
    assert np.array_equal(first.observed_targets, again.observed_targets)
    assert not np.array_equal(first.observed_targets, other.observed_targets)


RANK_SCRIPT = """
import json, sys
from benign.data import DigitsDataModule
labels = {}
for kind in ("instance", "coverage"):
    dm = DigitsDataModule(data_dir=sys.argv[1], noise_rate=0.2, noise_type=kind, noise_seed=1)
    dm.setup("fit")
    labels[kind] = dm.observed_targets.tolist()
print(json.dumps(labels))
"""


@pytest.mark.slow
def test_two_ranks_started_together_draw_the_same_labels(tmp_path: Path) -> None:
    """Two processes (like two DDP ranks) building at once share one reference model file."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RANK_SCRIPT, str(tmp_path)],
            env={**env, "LOCAL_RANK": str(rank), "RANK": str(rank)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    labels = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
    assert labels[0] == labels[1]
    for kind in KINDS:
        in_process = build(tmp_path, noise_rate=0.2, noise_type=kind, noise_seed=1)
        assert labels[0][kind] == in_process.observed_targets.tolist()
    assert len(list((tmp_path / "noise_reference").glob("*.npz"))) == 1


def test_manifest_records_the_reference_model_and_the_cover(tmp_path: Path) -> None:
    dm = build(tmp_path, noise_rate=0.2, noise_type="instance")
    dm.save_noise_manifest(str(tmp_path / "noise.npz"))
    with np.load(tmp_path / "noise.npz") as saved:
        assert str(saved["noise_type"]) == "instance"
        path = Path(str(saved["noise_reference_file"]))
        assert path.parent == tmp_path / "noise_reference" and path.is_file()
        assert str(saved["noise_reference_sha256"]) == hashlib.sha256(path.read_bytes()).hexdigest()
        assert "LogisticRegression" in str(saved["noise_reference_model"])
        assert 0.8 < float(saved["noise_reference_accuracy"]) <= 1.0  # linear model on digits
    cover = build(tmp_path, noise_rate=0.2, noise_type="coverage")
    manifest = cover.noise_manifest()
    assert 0 <= int(manifest["coverage_start"]) < len(cover.noisy_mask)
    flipped = np.flatnonzero(cover.noisy_mask.numpy())
    assert float(manifest["coverage_radius"]) == pytest.approx(
        covering_radius(pixels(cover), flipped), rel=1e-4
    )
    assert int(manifest["coverage_start"]) in flipped


def test_a_resumed_run_keeps_the_manifest_fields(tmp_path: Path) -> None:
    original = build(tmp_path, noise_rate=0.2, noise_type="instance")
    resumed = DigitsDataModule(data_dir=str(tmp_path / "elsewhere"), noise_type="instance")
    resumed.load_state_dict(original.state_dict())
    resumed.setup("fit")
    assert np.array_equal(resumed.observed_targets, original.observed_targets)
    assert (
        resumed.noise_manifest()["noise_reference_sha256"]
        == (original.noise_manifest()["noise_reference_sha256"])
    )


@pytest.mark.parametrize("rate", [0.05, 0.2])
def test_coverage_spreads_more_evenly_than_symmetric(tmp_path: Path, rate: float) -> None:
    cover = build(tmp_path, noise_rate=rate, noise_type="coverage")
    points = pixels(cover)
    radius = covering_radius(points, np.flatnonzero(cover.noisy_mask.numpy()))
    for seed in range(3):
        uniform = build(tmp_path, noise_rate=rate, noise_type="symmetric", noise_seed=seed)
        assert radius < 0.95 * covering_radius(points, np.flatnonzero(uniform.noisy_mask.numpy()))


def test_farthest_point_order_on_a_line() -> None:
    line = np.arange(11, dtype=np.float32)[:, None]
    order, radius = farthest_point_order(line, 3, start=0)
    assert order.tolist() == [0, 10, 5] and radius == pytest.approx(2.0)
    order, radius = farthest_point_order(line, 11, start=3)
    assert sorted(order.tolist()) == list(range(11)) and radius == 0.0


def test_instance_noise_on_two_separable_blobs_stays_in_the_overlap(tmp_path: Path) -> None:
    """Two 1-D blobs overlapping near 0: the flipped points are the ones near the overlap."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 200)
    x = np.where(labels == 0, -2.0, 2.0) + rng.normal(0, 1.0, 400)
    observed, info = instance_noise(
        labels, x[:, None], 2, 0.1, 0, cache_dir=str(tmp_path), dataset="blobs"
    )
    flipped = observed != labels
    assert flipped.sum() == 40 and np.all(observed[flipped] == 1 - labels[flipped])
    assert np.abs(x[flipped]).mean() < 0.6 * np.abs(x[~flipped]).mean()
    assert Path(str(info["noise_reference_file"])).is_file()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"noise_type": "instanse"}, "unknown noise_type 'instanse': use one of"),
        ({"noise_type": "Coverage"}, "unknown noise_type 'Coverage': use one of"),
    ],
)
def test_bad_noise_type_is_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        DigitsDataModule(noise_rate=0.1, **kwargs)
    text = str(err.value)
    assert message in text and "instance" in text and "coverage" in text and "\n" not in text


def test_unwritable_cache_dir_is_one_line(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(ConfigError) as err:
        build(blocked, noise_rate=0.1, noise_type="instance")
    text = str(err.value)
    assert "not writable" in text and "--data.data_dir" in text and "\n" not in text
