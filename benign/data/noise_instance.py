"""``instance`` noise: input-dependent label noise as annotators make it.

Realistic noise is not uniform: a person mislabels the images that look like another class, and
labels them as that class (the "realistic" noise of Paleka and Sanyal, ICLR 2023, PAPER.md "The
follow-up"). ``instance`` imitates that with a *reference model* trained on the clean labels:

* the reference model is a multinomial logistic regression (scikit-learn ``LogisticRegression``,
  lbfgs, on standardised pixels), chosen because the data layer must stay self-contained (it
  imports nothing of benign's methods), it trains in seconds on digits and 5,000-image subsets
  (a few minutes on full MNIST), and it is deterministic. It is *cross-fitted*: the training
  split is cut into two stratified halves (seeded by the noise seed) and each half is scored by
  the model trained on the other half, so each point's class probabilities are out-of-sample,
  like an annotator who has not seen that image's label;
* a point's *confusion* is ``1 - p(true class)``; the ``round(rate * n)`` flipped points are
  drawn without replacement with probability proportional to the confusion (plus 1e-9, so a
  rate above the share of confused points still gets its count);
* each flipped point gets the class the reference finds most likely after the true one.

The model is trained once per training split, label level and noise seed and cached under
``data_dir/noise_reference/`` (an ``.npz`` with both folds' coefficients, the scalers, the fold
of each point and the out-of-fold probabilities); the manifest records its path and sha256.
Concurrent builds (DDP ranks) take a file lock, so they all read one file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from benign.data.noise_coverage import flat_pixels
from benign.data.splits import round_half_up, stratified_split
from benign.errors import ConfigError

#: Recorded in the manifest and part of the cache key: change it when the recipe changes.
REFERENCE_MODEL = "LogisticRegression(lbfgs, C=1.0, max_iter=200) on standardised pixels, 2-fold"
CONFUSION_FLOOR = 1e-9


def _fit_fold(x: np.ndarray, y: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    """One fold's scaler and logistic regression, as arrays over all ``num_classes``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = LogisticRegression(C=1.0, max_iter=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit((x - mean) / scale, y)
    coef = np.zeros((num_classes, x.shape[1]))
    intercept = np.full(num_classes, -1e9)  # a class absent from the fold is never predicted
    classes = model.classes_.astype(np.int64)
    if len(classes) == 2:  # binary: scikit-learn keeps one row, the logit of classes[1]
        coef[classes[1]], intercept[classes[1]] = model.coef_[0], model.intercept_[0]
        coef[classes[0]], intercept[classes[0]] = 0.0, 0.0
    else:
        coef[classes], intercept[classes] = model.coef_, model.intercept_
    return {"coef": coef, "intercept": intercept, "mean": mean, "scale": scale}


def _probabilities(x: np.ndarray, fold: dict[str, np.ndarray]) -> np.ndarray:
    logits = ((x - fold["mean"]) / fold["scale"]) @ fold["coef"].T + fold["intercept"]
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def fit_reference(
    labels: np.ndarray, pixels: np.ndarray, num_classes: int, seed: int
) -> dict[str, np.ndarray]:
    """The cross-fitted reference model and each point's out-of-fold class probabilities."""
    order = np.random.default_rng(seed)
    first, _ = stratified_split(labels, len(labels) // 2, order)
    fold_of = np.ones(len(labels), dtype=np.int64)
    fold_of[first] = 0
    probabilities = np.zeros((len(labels), num_classes))
    params: dict[str, list[np.ndarray]] = {"coef": [], "intercept": [], "mean": [], "scale": []}
    for k in (0, 1):
        fold = _fit_fold(pixels[fold_of != k], labels[fold_of != k], num_classes)
        probabilities[fold_of == k] = _probabilities(pixels[fold_of == k], fold)
        for name, value in fold.items():
            params[name].append(value)
    accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    return {
        **{name: np.stack(values) for name, values in params.items()},
        "fold_of_point": fold_of,
        "probabilities": probabilities,
        "accuracy": np.array(accuracy),
        "model": np.array(REFERENCE_MODEL),
    }


def reference_path(
    cache_dir: str, dataset: str, labels: np.ndarray, pixels: np.ndarray, seed: int
) -> Path:
    """The cache file of one training split, label set and seed (a content hash names it)."""
    digest = hashlib.sha256()
    for part in (dataset, REFERENCE_MODEL, str(seed), str(pixels.shape)):
        digest.update(part.encode() + b"\0")
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return Path(cache_dir) / "noise_reference" / f"{dataset}-{digest.hexdigest()[:16]}.npz"


def cached_reference(
    path: Path, labels: np.ndarray, pixels: np.ndarray, num_classes: int, seed: int
) -> dict[str, np.ndarray]:
    """Load the reference at ``path``, training and writing it first if absent (locked)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.with_suffix(".lock"), "w")
    except OSError as err:
        raise ConfigError(
            f"instance noise caches its reference model in {path.parent}, which is not "
            f"writable ({err.strerror}): pass a writable --data.data_dir"
        ) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            reference = fit_reference(labels, pixels, num_classes, seed)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as handle:
                np.savez(handle, **reference)
            os.replace(tmp, path)
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}


def instance_noise(
    labels: np.ndarray,
    images: np.ndarray,
    num_classes: int,
    rate: float,
    seed: int,
    *,
    cache_dir: str,
    dataset: str,
) -> tuple[np.ndarray, dict[str, object]]:
    """Flip ``round(rate * n)`` labels where the reference model is confused (see module).

    Returns ``(observed, info)``: the noisy labels and the manifest fields
    ``noise_reference_file``, ``noise_reference_sha256``, ``noise_reference_model`` and
    ``noise_reference_accuracy`` (its out-of-fold accuracy on the clean labels).
    """
    labels = np.asarray(labels, dtype=np.int64)
    pixels = flat_pixels(images)
    path = reference_path(cache_dir, dataset, labels, pixels, seed)
    reference = cached_reference(path, labels, pixels, num_classes, seed)
    probabilities = np.array(reference["probabilities"])
    confusion = 1.0 - probabilities[np.arange(len(labels)), labels] + CONFUSION_FLOOR
    rng = np.random.default_rng([seed, 1])
    chosen = rng.choice(
        len(labels),
        size=round_half_up(rate * len(labels)),
        replace=False,
        p=confusion / confusion.sum(),
    )
    probabilities[np.arange(len(labels)), labels] = -np.inf  # the most likely *other* class
    observed = labels.copy()
    observed[chosen] = probabilities[chosen].argmax(axis=1)
    return observed, {
        "noise_reference_file": str(path),
        "noise_reference_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "noise_reference_model": REFERENCE_MODEL,
        "noise_reference_accuracy": float(reference["accuracy"]),
    }
