"""E6 ``representation``: the representation decides robustness (PAPER.md, Claims 2 and 3, E7).

Two parts, one grid:

- **simulation** (one cell a seed, :func:`benign.theory.representation.simulate_claims`): the same
  logistic regression on different feature maps of 2-D data, robust accuracy exact. Claim 2 on
  clean labels (``raw`` vs ``standardized``: same natural, different robust accuracy); Claim 3
  with label noise (``raw`` keeps training error and stays robust; ``raw+cells`` fits the noise,
  keeps natural accuracy, loses robustness; ``any-interpolator``'s ceiling shows every
  zero-training-error classifier loses it). ``dataset`` = ``sim-two-signal`` / ``sim-noisy-slab``,
  ``method`` = the representation.
- **feature probe** (``benign fit`` cells): ERM, AT and TRADES trained on the coarse labels; a
  logistic regression on their penultimate features (``model.features``) of the training split,
  scored on the test split for the *fine* labels: ``probe_fine_acc``, beside the run's own
  ``acc`` and ``robust_acc@eps``. The ERM cell also scores the same probe on raw pixels
  (``method`` = ``pixels``), the reference a representation can keep or lose.

Settings: ``configs/experiments/representation.yaml``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benign.repro.base import Cell, Row
from benign.repro.config import Settings
from benign.repro.experiments.fit import FitExperiment
from benign.repro.experiments.representation_report import (
    representation_figure,
    representation_summary,
)
from benign.repro.results import make_row
from benign.theory.representation import simulate_claims

PROBE_METHODS = ("ERM", "AT", "TRADES")


class Representation(FitExperiment):
    """E6: Claims 2/3 simulated, and the fine-label probe of coarse-label ERM / AT / TRADES."""

    name = "representation"
    datasets = ("digits", "mnist", "cifar10")

    def cells(self, settings: Settings) -> list[Cell]:
        conf = self.config(settings)
        cells = []
        for seed in range(settings.seeds):
            columns = {"experiment": self.name, "backbone": "logistic-regression", "seed": seed}
            extra = {"simulation": dict(conf["simulation"])}
            cells.append(Cell(f"simulation-seed{seed}", columns, extra=extra))
            for method in PROBE_METHODS:
                overrides = {"data": {"label_level": "coarse"}}
                overrides.update((conf.get("method_args") or {}).get(method) or {})
                cell = self.fit_cell(
                    settings, conf, f"{method.lower()}-coarse-seed{seed}", method, seed, overrides
                )
                cell.extra["probe"] = dict(conf.get("probe") or {})
                cells.append(cell)
        return cells

    def compute(self, cell: Cell, settings: Settings) -> list[Row]:
        """One seed of the simulation (:func:`benign.theory.representation.simulate_claims`)."""
        sim = cell.extra["simulation"]
        measured = simulate_claims(
            int(cell.columns["seed"]),
            num_train=int(sim["num_train"]),
            num_test=int(sim["num_test"]),
            noise_rate=float(sim["noise_rate"]),
            eps=[float(e) for e in sim["eps"]],
            C=float(sim["C"]),
            max_cell=float(sim["max_cell"]),
        )
        rows = []
        for item in measured:
            columns = {
                **cell.columns,
                "dataset": f"sim-{item['data']}",
                "method": item["representation"],
                "noise_rate": item["noise_rate"],
                "noise_type": "bernoulli" if item["noise_rate"] else None,
                "label_level": "fine",
            }
            rows.append(make_row(columns, str(item["metric"]), float(item["value"]), item["eps"]))
        return rows

    def collect(self, cell: Cell, settings: Settings, cli: Any, run_dir: str) -> list[Row]:
        """The run's metrics plus the fine-label probe on its penultimate features."""
        rows = super().collect(cell, settings, cli, run_dir)
        max_iter = int(cell.extra.get("probe", {}).get("max_iter", 3000))
        train_x, train_fine, test_x, test_fine = fine_label_splits(cli.datamodule)
        model = cli.model
        features = [penultimate(model, x) for x in (train_x, test_x)]
        accuracy = probe_accuracy(features[0], train_fine, features[1], test_fine, max_iter)
        rows.append(make_row(cell.columns, "probe_fine_acc", accuracy))
        if cell.extra.get("method") == "ERM":  # the same probe on raw pixels, once a seed
            pixels = [x.flatten(1).numpy() for x in (train_x, test_x)]
            accuracy = probe_accuracy(pixels[0], train_fine, pixels[1], test_fine, max_iter)
            columns = {**cell.columns, "method": "pixels", "backbone": None}
            rows.append(make_row(columns, "probe_fine_acc", accuracy))
        return rows

    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        """:func:`representation_figure` at the setting ``headline_eps``."""
        return representation_figure(results, self.config(settings).get("headline_eps"))

    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        """:func:`representation_summary` at the setting ``headline_eps``."""
        return representation_summary(
            results, self.command(settings), self.config(settings).get("headline_eps")
        )


def fine_label_splits(datamodule: Any) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, np.ndarray]:
    """Training-split and test inputs of a (coarse-label) data module with their *fine* labels.

    The training split's fine labels are in its noise manifest; the test split's come from a
    twin data module built with the same arguments at ``label_level=fine`` (same split, same
    order), checked against the coarse test labels through the coarse map.
    """
    train_fine = np.asarray(datamodule.noise_manifest()["fine_true_labels"])
    arguments = {k: getattr(datamodule, k) for k in ("data_dir", "split_seed", "val_split")}
    twin = type(datamodule)(**arguments, train_subset=datamodule.train_subset, label_level="fine")
    twin.setup("test")
    test_fine = twin.test_dataset.targets.numpy()
    coarse = datamodule.coarse_map.numpy()[test_fine]
    if datamodule.label_level == "coarse" and not np.array_equal(
        coarse, datamodule.test_dataset.targets.numpy()
    ):
        raise RuntimeError("the fine-label twin's test split does not match the coarse one")
    return (
        datamodule.train_eval_dataset.images,
        train_fine,
        datamodule.test_dataset.images,
        test_fine,
    )


@torch.no_grad()
def penultimate(model: Any, images: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """``model.features`` (the backbone's ``forward_features``) of ``images``, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        chunks = [
            model.features(images[i : i + batch_size].to(device)).float().cpu()
            for i in range(0, len(images), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(chunks).flatten(1).numpy()


def probe_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, max_iter: int
) -> float:
    """Test accuracy of a linear probe (standardised features, logistic regression)."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    probe.fit(train_x, train_y)
    return float(probe.score(test_x, test_y))
