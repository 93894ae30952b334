"""E6 representation (PAPER.md Claims 2/3, E7 probe): the grid end to end, the probe's labels,
and the notebook."""

from __future__ import annotations

import os
import sys

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
from nbclient import NotebookClient

from benign.data import DigitsDataModule
from benign.repro.config import Settings
from benign.repro.experiments.representation import (
    Representation,
    fine_label_splits,
    probe_accuracy,
)
from benign.repro.experiments.representation_report import claim_checks, probe_table
from benign.repro.results import COLUMNS
from benign.repro.runner import run_experiment

TINY = (
    "simulation.num_train=300",
    "simulation.num_test=300",
    "simulation.eps=[0.0, 0.02, 0.05]",
    "args.trainer.max_epochs=1",
    "args.data.train_subset=300",
    "method_args={AT: {trainer: {max_epochs: 1}}, TRADES: {trainer: {max_epochs: 1}}}",
    "eval.max_samples=32",
    "eval.eps=[0.0,0.1]",
    "eval.attack={class_path: benign.attacks.PGD, init_args: {eps: 0.1, steps: 2}}",
    "memorization.every_n_epochs=1",
)


@pytest.fixture(scope="module")
def tiny_e6(tmp_path_factory) -> str:
    """One tiny grid (a simulation and three one-epoch fits), shared by the tests below."""
    root = tmp_path_factory.mktemp("e6")
    out = str(root / "representation")
    settings = Settings(seeds=1, quick=True, out=out, overrides=TINY)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setattr(sys, "argv", sys.argv[:1])  # the in-process `benign fit` reads no pytest args
        run_experiment(Representation(), settings, progress=False)
    return out


def test_fine_labels_of_a_coarse_data_module() -> None:
    datamodule = DigitsDataModule(label_level="coarse", train_subset=300)
    datamodule.setup("fit")
    train_x, train_fine, test_x, test_fine = fine_label_splits(datamodule)
    coarse = datamodule.coarse_map.numpy()
    assert np.array_equal(coarse[train_fine], datamodule.true_targets.numpy())
    assert np.array_equal(coarse[test_fine], datamodule.test_dataset.targets.numpy())
    assert len(train_x) == len(train_fine) and len(test_x) == len(test_fine) == 540
    assert set(np.unique(test_fine)) == set(range(10))  # fine, not coarse
    # the probe recovers the fine labels from pixels, far above the 10% of chance
    flat = [x.flatten(1).numpy() for x in (train_x, test_x)]
    assert probe_accuracy(flat[0], train_fine, flat[1], test_fine, 2000) > 0.85
    # and cannot from the coarse label alone (two values): at most 2 of 10 classes' worth
    coarse_only = [coarse[labels][:, None].astype(float) for labels in (train_fine, test_fine)]
    assert probe_accuracy(coarse_only[0], train_fine, coarse_only[1], test_fine, 2000) < 0.25


def test_tiny_grid_end_to_end(tiny_e6: str) -> None:
    written = pd.read_csv(os.path.join(tiny_e6, "results.csv"))
    assert list(written.columns) == COLUMNS
    probe = written[written["metric"] == "probe_fine_acc"]
    assert set(probe["method"]) == {"pixels", "ERM", "AT", "TRADES"}
    # the fine labels are linearly decodable from pixels and from every network's features
    # (measured: pixels 0.935, ERM 0.931, AT 0.915, TRADES 0.930; chance is 0.1, and a probe
    # fitted to the two coarse labels scores at most 0.2)
    assert (probe["value"] > 0.8).all(), probe[["method", "value"]].to_string()
    assert (probe["label_level"].dropna() == "coarse").all()
    robust = written[(written["metric"] == "robust_acc") & written["method"].isin(["ERM", "AT"])]
    assert set(robust["eps"].round(3)) == {0.0, 0.1}
    sim = written[written["dataset"].str.startswith("sim-")]
    assert set(sim["method"]) == {"raw", "standardized", "raw+cells", "any-interpolator"}
    checks = claim_checks(written)
    assert checks["shown"].all(), checks.to_string()
    table = probe_table(written, 0.1)
    assert list(table["method"]) == ["pixels", "ERM", "AT", "TRADES"]
    summary = open(os.path.join(tiny_e6, "summary.md")).read()
    assert "9 of 9 checks shown" in summary and "probe fine acc" in summary
    assert os.path.getsize(os.path.join(tiny_e6, "figure.png")) > 10_000


def test_notebook_runs_on_tiny_results(tiny_e6: str, repo_root: str, monkeypatch) -> None:
    path = os.path.join(repo_root, "notebooks", "06_representation.ipynb")
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)  # stripped
    monkeypatch.setenv("BENIGN_RESULTS", os.path.join(tiny_e6, "results.csv"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws PNGs
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("probe_fine_acc" in str(o.get("text", "")) for o in outputs)


@pytest.mark.slow
def test_quick_run_shows_every_claim(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", sys.argv[:1])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = str(tmp_path / "representation")
        results = run_experiment(
            Representation(), Settings(seeds=1, quick=True, out=out), progress=False
        )
    finally:
        torch.set_num_threads(threads)
    assert claim_checks(results)["shown"].all()
    probe = results[results["metric"] == "probe_fine_acc"].set_index("method")["value"]
    assert probe.min() > 0.8  # coarse-label features keep most of the fine information
