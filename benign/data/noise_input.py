"""Draw a training split's observed labels for any noise type, label-only or input-dependent.

``symmetric``, ``asymmetric`` and ``class_subset`` need only the labels
(:mod:`benign.data.noise`); ``instance`` (:mod:`benign.data.noise_instance`) and ``coverage``
(:mod:`benign.data.noise_coverage`) also need the training images. Every kind returns the
observed labels and the extra fields it records in the noise manifest.
"""

from __future__ import annotations

import numpy as np

from benign.data.noise import INPUT_NOISE_TYPES, apply_noise
from benign.data.noise_coverage import coverage_noise
from benign.data.noise_instance import instance_noise
from benign.data.spec import LabelSpec


def draw_noise(
    true: np.ndarray, spec: LabelSpec, images: np.ndarray | None, cache_dir: str | None
) -> tuple[np.ndarray, dict[str, object]]:
    """``(observed, info)`` for the clean labels ``true`` of the training split.

    Args:
        true: clean labels at ``spec.label_level``.
        spec: the noise type, rate and seed.
        images: the training split's images (needed by ``instance`` and ``coverage``).
        cache_dir: where ``instance`` caches its reference model (the DataModule's data_dir).
    """
    kind, rate, seed = spec.noise_type, spec.noise_rate, spec.noise_seed
    if kind not in INPUT_NOISE_TYPES or rate == 0:
        observed = apply_noise(
            true,
            spec.num_classes,
            kind,
            rate,
            seed,
            pairs=spec.noise_pairs(),
            classes=list(spec.noise_classes),
        )
        return observed, {}
    if images is None or cache_dir is None:
        raise ValueError(f"{kind} noise needs the training images and a cache directory")
    if kind == "coverage":
        return coverage_noise(true, images, spec.num_classes, rate, seed)
    return instance_noise(
        true, images, spec.num_classes, rate, seed, cache_dir=cache_dir, dataset=spec.dataset
    )
