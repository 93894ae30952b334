"""Label noise: pure, seeded functions on numpy label arrays, and the noise manifest file.

Conventions (see PAPER.md, "Standard settings"):

* A flipped label always changes: it is replaced by a *different* class, never kept. So the
  realised flipped fraction is what the noise type promises, not ``rate * (K - 1) / K`` as with
  the "resample from all K classes" convention.
* Counts are exact, not Bernoulli: ``round(rate * n)`` points are flipped (halves round up).
* Every function is a deterministic function of its arguments; randomness comes only from
  ``numpy.random.default_rng(seed)``, never from torch's global state, so the same seed gives
  the same labels on every machine and every DDP rank.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from benign.data.splits import round_half_up
from benign.errors import ConfigError, DataNotFoundError

NOISE_TYPES: tuple[str, ...] = ("symmetric", "asymmetric", "class_subset", "instance", "coverage")
#: The kinds that depend on the images too (:mod:`benign.data.noise_input` draws them).
INPUT_NOISE_TYPES: tuple[str, ...] = ("instance", "coverage")
NOISE_FILE_SUFFIXES: tuple[str, ...] = (".npy", ".npz", ".csv")


def flip_to_other_class(
    labels: np.ndarray, num_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """Replace each label by a class drawn uniformly from the ``num_classes - 1`` other classes."""
    offsets = rng.integers(1, num_classes, size=len(labels))
    return (np.asarray(labels, dtype=np.int64) + offsets) % num_classes


def symmetric_noise(labels: np.ndarray, num_classes: int, rate: float, seed: int) -> np.ndarray:
    """Uniform noise: exactly ``round(rate * n)`` points, chosen uniformly, get another class.

    Each chosen label is replaced by a uniformly drawn *different* class, so the realised noisy
    fraction equals ``rate`` up to rounding.
    """
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), size=round_half_up(rate * len(labels)), replace=False)
    observed = labels.copy()
    observed[chosen] = flip_to_other_class(labels[chosen], num_classes, rng)
    return observed


def default_pairs(num_classes: int) -> dict[int, int]:
    """The generic asymmetric partner map ``c -> (c + 1) mod K``."""
    return {c: (c + 1) % num_classes for c in range(num_classes)}


def asymmetric_noise(
    labels: np.ndarray,
    num_classes: int,
    rate: float,
    seed: int,
    pairs: Mapping[int, int] | None = None,
) -> np.ndarray:
    """Class-conditional noise: each class ``c`` with a partner sends ``round(rate * n_c)`` of
    its points (chosen uniformly) to ``pairs[c]``; classes without a partner stay clean.

    The realised noisy fraction is therefore ``rate`` times the share of points whose class has
    a partner (e.g. 0.5 * rate on CIFAR-10's five standard pairs when classes are balanced).
    ``pairs=None`` uses ``c -> (c + 1) mod K``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    pairs = default_pairs(num_classes) if pairs is None else pairs
    rng = np.random.default_rng(seed)
    observed = labels.copy()
    for source in sorted(pairs):
        members = np.flatnonzero(labels == source)
        chosen = rng.choice(members, size=round_half_up(rate * len(members)), replace=False)
        observed[chosen] = pairs[source]
    return observed


def class_subset_noise(
    labels: np.ndarray,
    num_classes: int,
    rate: float,
    seed: int,
    classes: Sequence[int],
) -> np.ndarray:
    """Structured noise confined to ``classes``: ``round(rate * n)`` flips, all drawn uniformly
    from the points whose true label is in ``classes``, each to a uniformly drawn other class.

    The overall realised fraction equals ``rate`` (as for ``symmetric``) but the noise sits in a
    few regions of input space. Raises ``ConfigError`` if those classes hold fewer points.
    """
    labels = np.asarray(labels, dtype=np.int64)
    pool = np.flatnonzero(np.isin(labels, np.asarray(list(classes), dtype=np.int64)))
    n_flip = round_half_up(rate * len(labels))
    if n_flip > len(pool):
        max_rate = len(pool) / max(len(labels), 1)
        raise ConfigError(
            f"noise_rate {rate} is too high for class_subset noise on classes {list(classes)}: "
            f"they hold {len(pool)} of {len(labels)} training points, so the largest possible "
            f"rate is {max_rate:.4f}; lower --data.noise_rate or add --data.noise_classes"
        )
    rng = np.random.default_rng(seed)
    chosen = rng.choice(pool, size=n_flip, replace=False)
    observed = labels.copy()
    observed[chosen] = flip_to_other_class(labels[chosen], num_classes, rng)
    return observed


def apply_noise(
    labels: np.ndarray,
    num_classes: int,
    noise_type: str,
    rate: float,
    seed: int,
    *,
    pairs: Mapping[int, int] | None = None,
    classes: Sequence[int] | None = None,
) -> np.ndarray:
    """Dispatch to the label-only noise function named ``noise_type`` (one of
    :data:`NOISE_TYPES` but not :data:`INPUT_NOISE_TYPES`)."""
    if rate == 0:
        return np.asarray(labels, dtype=np.int64).copy()
    if noise_type == "symmetric":
        return symmetric_noise(labels, num_classes, rate, seed)
    if noise_type == "asymmetric":
        return asymmetric_noise(labels, num_classes, rate, seed, pairs)
    if noise_type == "class_subset":
        if classes is None:
            classes = range(max(1, num_classes // 2))
        return class_subset_noise(labels, num_classes, rate, seed, classes)
    if noise_type in INPUT_NOISE_TYPES:
        raise ValueError(
            f"{noise_type} noise depends on the images: draw it with benign.data.noise_input.draw_noise"
        )
    raise ConfigError(f"unknown noise_type '{noise_type}': use one of {', '.join(NOISE_TYPES)}")


def load_label_file(path: str | os.PathLike) -> np.ndarray:
    """Read observed labels (one integer per point) from a ``.npy``, ``.npz`` or ``.csv`` file.

    A ``.npz`` must hold one array, or an array named ``labels`` or ``observed_labels``. A
    ``.csv`` holds one label per line (the last column is used; a non-numeric header line is
    skipped).
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(
            f"noise_file {path} not found: pass the path of a .npy/.npz/.csv label file"
        )
    try:
        if path.suffix == ".npy":
            labels = np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = [k for k in ("labels", "observed_labels") if k in archive.files]
                if not keys and len(archive.files) != 1:
                    raise ConfigError(
                        f"noise_file {path} holds {len(archive.files)} arrays: keep one, or name "
                        "the labels 'labels'"
                    )
                labels = archive[keys[0] if keys else archive.files[0]]
        elif path.suffix == ".csv":
            rows = [r.split(",")[-1].strip() for r in path.read_text().splitlines() if r.strip()]
            if rows and not rows[0].lstrip("-").isdigit():
                rows = rows[1:]
            labels = np.array([int(r) for r in rows], dtype=np.int64)
        else:
            raise ConfigError(
                f"noise_file {path} has an unknown suffix: use one of {', '.join(NOISE_FILE_SUFFIXES)}"
            )
    except (ValueError, OSError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(
            f"noise_file {path} could not be read ({err}): write one integer label per point"
        ) from None
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(
            f"noise_file {path} must hold a 1-D integer array of labels, got {labels.dtype} "
            f"of shape {labels.shape}"
        )
    return labels.astype(np.int64)
