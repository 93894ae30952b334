"""The README's "An experiment" example, run as written: one class and one registry line make a
seventh `benign repro` experiment whose grid, figure and summary go through the runner."""

from __future__ import annotations

import os
import re
import sys
import types

import pandas as pd

from benign.repro.config import Settings
from benign.repro.registry import EXPERIMENTS, get_experiment
from benign.repro.results import make_row, write_results
from benign.repro.runner import gather, grid, stored_path
from tests.repro.test_tables import INTERFACE_COLUMNS


def _readme_blocks(repo_root: str) -> dict[str, str]:
    """The first ``python`` and ``yaml`` blocks of the README's "### An experiment" section."""
    with open(os.path.join(repo_root, "README.md")) as handle:
        text = handle.read()
    section = text.split("### An experiment", 1)[1].split("\n## ", 1)[0]
    return {
        kind: re.search(rf"```{kind}\n(.*?)```", section, re.S).group(1)
        for kind in ("python", "yaml")
    }


def test_the_readme_example_is_a_seventh_experiment(repo_root, tmp_path, monkeypatch):
    blocks = _readme_blocks(repo_root)
    module = types.ModuleType("noise_sweep_example")
    exec(compile(blocks["python"], "README.md", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    config = tmp_path / "noise-sweep.yaml"
    config.write_text(blocks["yaml"])
    monkeypatch.setitem(EXPERIMENTS, "noise-sweep", f"{module.__name__}.NoiseSweep")  # the line

    experiment = get_experiment("noise-sweep")
    settings = Settings(quick=True, seeds=2, out=str(tmp_path / "out"), config=str(config))
    cells = grid(experiment, settings)
    assert len(cells) == 2 * 2 * 3  # seeds x methods x noise rates
    for cell in cells:
        args = list(cell.args)
        assert args[args.index("--data.noise_rate") + 1] == str(cell.columns["noise_rate"])
        assert args[args.index("--trainer.max_epochs") + 1] == "60"
        assert cell.columns["experiment"] == "noise-sweep"

    # Rows as the cells would store them; the runner gathers them with a fresh instance.
    os.makedirs(settings.cells_dir)
    for cell in cells:
        rows = [make_row(cell.columns, "acc", 0.9), make_row(cell.columns, "acc_noisy", 0.5)]
        rows += [make_row(cell.columns, "robust_acc", 0.8 - e, eps=e) for e in (0.0, 0.05, 0.1)]
        write_results(rows, stored_path(settings, cell))
    gather(get_experiment("noise-sweep"), settings)
    results = pd.read_csv(os.path.join(settings.out, "results.csv"))
    assert list(results.columns) == INTERFACE_COLUMNS and len(results) == 5 * len(cells)
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert (
        "| method | noise_rate | noise fitted | clean test acc | robust acc @ ε=0.05 |" in summary
    )
    assert "benign repro noise-sweep --dataset digits --seeds 2 --quick --config" in summary
    assert (tmp_path / "out" / "figure.png").read_bytes()[:4] == b"\x89PNG"
