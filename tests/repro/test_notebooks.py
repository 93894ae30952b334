"""The notebooks (notebooks/01..04) run top to bottom on `benign repro --quick` results."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = {
    "01_label_noise.ipynb": "label-noise",
    "02_memorization.ipynb": "memorization",
    "03_fine_vs_coarse.ipynb": "fine-vs-coarse",
    "04_mislabelled.ipynb": "mislabelled",
}


@pytest.mark.parametrize(("notebook", "experiment"), NOTEBOOKS.items())
def test_notebook_runs_on_repro_results(notebook, experiment, repo_root, tiny_results, monkeypatch):
    path = os.path.join(repo_root, "notebooks", notebook)
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(
        not cell.outputs and cell.execution_count is None for cell in code
    )  # stripped
    imports = [
        line.split()[1]
        for cell in code
        for line in cell.source.splitlines()
        if line.startswith(("import ", "from "))
    ]
    assert {name.split(".")[0] for name in imports} <= {
        "os",
        "glob",
        "matplotlib",
        "pandas",
        "benign",
    }

    monkeypatch.setenv("BENIGN_RESULTS", os.path.join(tiny_results(experiment), "results.csv"))
    monkeypatch.delenv("BENIGN_WANDB_PROJECT", raising=False)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 1
    assert any("rows;" in o.get("text", "") for o in outputs)  # the loading cell read the results
