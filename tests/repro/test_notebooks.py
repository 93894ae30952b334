"""The notebooks run top to bottom: every one on a fresh clone (`pytest --nbmake notebooks/`,
on the sample results that ship with benign), 01..04 on the user's own `benign repro` results."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from benign.repro.registry import EXPERIMENTS
from benign.repro.samples import SAMPLE_COMMANDS, SAMPLES_DIR, find_results, sample_results

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


def test_every_notebook_runs_on_a_fresh_clone_with_the_shipped_samples(repo_root, tmp_path):
    """No ``repro_out/`` and no ``$BENIGN_RESULTS``: ``pytest --nbmake notebooks/`` passes, each
    notebook saying that it shows the sample and drawing at least one figure."""
    clone = tmp_path / "clone"
    shutil.copytree(os.path.join(repo_root, "notebooks"), clone / "notebooks")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENIGN_", "PYTEST_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbmake",
         "--nbmake-timeout=300", "--overwrite", "notebooks"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    notebooks = sorted(glob.glob(str(clone / "notebooks" / "*.ipynb")))
    assert done.returncode == 0 and f"{len(notebooks)} passed" in done.stdout, done.stdout[-4000:]
    assert len(notebooks) == 8
    for path in notebooks:
        outputs = [o for c in nbformat.read(path, as_version=4).cells for o in c.get("outputs", [])]
        text = "".join(o.get("text", "") for o in outputs)
        assert "results: the sample shipped with benign" in text, path
        assert any("image/png" in o.get("data", {}) for o in outputs), path


def test_samples_ship_for_every_experiment_with_the_interface_columns():
    from tests.repro.test_tables import INTERFACE_COLUMNS

    assert set(SAMPLE_COMMANDS) == set(EXPERIMENTS)
    for name in EXPERIMENTS:
        with open(sample_results(name)) as handle:
            assert handle.readline().strip().split(",") == INTERFACE_COLUMNS, name
    assert os.path.isfile(SAMPLES_DIR / "mislabelled" / "candidates.png")
    assert glob.glob(str(SAMPLES_DIR / "mislabelled" / "rankings" / "*-seed0.csv"))


def test_notebooks_prefer_the_environment_then_the_users_own_results(tmp_path):
    own = tmp_path / "repro_out" / "label-noise" / "results.csv"
    own.parent.mkdir(parents=True)
    own.write_text("")
    path, source = find_results("label-noise", roots=[str(tmp_path)], environ={})
    assert path == str(own) and source.startswith("results: your own run")
    path, source = find_results(
        "label-noise", roots=[str(tmp_path)], environ={"BENIGN_RESULTS": "x.csv"}
    )
    assert path == "x.csv" and "$BENIGN_RESULTS" in source
    path, source = find_results("label-noise", roots=[str(tmp_path / "elsewhere")], environ={})
    assert path == sample_results("label-noise") and "sample shipped with benign" in source
