"""Shared fixtures for the attack tests: scikit-learn digits (offline) and a small trained model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from tests.attacks.helpers import accuracy, digits_mlp

#: Test modules that run AutoAttack at its published budget (its settings, its strength).
PUBLISHED_BUDGET = ("tests.attacks.test_published", "tests.attacks.test_strength")


@pytest.fixture(autouse=True)
def _short_autoattack(request, monkeypatch):
    """Elsewhere AutoAttack's wiring is tested (feasibility, bookkeeping), not its strength: its
    components run 5 iterations, 2 EOT draws and 50 Square queries instead of the published
    100 / 20 / 5,000, which would make each property example cost seconds."""
    if request.module.__name__ in PUBLISHED_BUDGET:
        return
    from benign.attacks import autoattack

    short = {"steps": 5, "eot_iter": 2, "n_queries": 50}
    patched = {
        version: [
            (label, cls, {k: short.get(k, v) for k, v in settings.items()})
            for label, cls, settings in parts
        ]
        for version, parts in autoattack.PUBLISHED.items()
    }
    monkeypatch.setattr(autoattack, "PUBLISHED", patched)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors gain nothing from intra-op threads, and on a busy machine the thread
    hand-offs dominate (a 3x4 cross-entropy took 20 ms with 2 threads, 0.05 ms with 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, read from the CSV it ships (importing sklearn takes seconds)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",")
            return table[:, :-1], table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


@pytest.fixture(scope="session")
def digits() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """8x8 digits in [0, 1] as ``[N, 1, 8, 8]``: a fixed 1200/597 train/test split."""
    features, labels = _load_digits()
    x = torch.tensor(features / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
    y = torch.tensor(labels, dtype=torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train, test = perm[:1200], perm[1200:]
    return x[train], y[train], x[test], y[test]


@pytest.fixture(scope="session")
def digits_model(digits: tuple[Tensor, Tensor, Tensor, Tensor]) -> nn.Module:
    """A small MLP trained to ~97% test accuracy on digits (full batch, well under a second)."""
    x, y, x_test, y_test = digits
    threads = torch.get_num_threads()
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        torch.manual_seed(0)
        model = digits_mlp()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(150):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    torch.set_num_threads(threads)
    model.eval()
    model.zero_grad(set_to_none=True)
    assert accuracy(model, x_test, y_test) > 0.9
    return model
