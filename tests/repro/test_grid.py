"""The resumable grid runner: finished cells are never redone, broken ones are."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from matplotlib.figure import Figure

import benign.cli
from benign.repro.base import Cell, Experiment
from benign.repro.config import Settings
from benign.repro.experiments.fit import FitExperiment
from benign.repro.results import COLUMNS, make_row
from benign.repro.runner import run_experiment


class Counting(Experiment):
    """Cells ``a``, ``b``, ``c`` whose value is their position; ``fail`` names one that raises."""

    name = "counting"

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def cells(self, settings: Settings) -> list[Cell]:
        return [Cell(name, {"experiment": self.name, "seed": i}) for i, name in enumerate("abc")]

    def run_cell(self, cell: Cell, settings: Settings) -> list[dict]:
        self.calls.append(cell.name)
        if cell.name == self.fail:
            raise RuntimeError("cell failed")
        return [make_row(cell.columns, "acc", float(cell.columns["seed"]))]

    def figure(self, results: pd.DataFrame, settings: Settings) -> Figure:
        return Figure()

    def summary(self, results: pd.DataFrame, settings: Settings) -> str:
        return f"{len(results)} rows\n"


def test_a_stored_cell_is_not_rerun(tmp_path):
    settings = Settings(out=str(tmp_path / "out"))
    first = Counting()
    results = run_experiment(first, settings, progress=False)
    assert first.calls == ["a", "b", "c"]
    assert list(results["value"]) == [0.0, 1.0, 2.0]
    assert sorted(os.listdir(settings.cells_dir)) == ["a.csv", "b.csv", "c.csv"]

    again = Counting()
    results = run_experiment(again, settings, progress=False)
    assert again.calls == []
    assert list(results["value"]) == [0.0, 1.0, 2.0]
    assert list(pd.read_csv(tmp_path / "out" / "results.csv").columns) == COLUMNS
    assert (tmp_path / "out" / "summary.md").read_text() == "3 rows\n"


def test_a_missing_cell_is_redone_alone(tmp_path):
    settings = Settings(out=str(tmp_path / "out"))
    run_experiment(Counting(), settings, progress=False)
    os.remove(os.path.join(settings.cells_dir, "b.csv"))
    again = Counting()
    run_experiment(again, settings, progress=False)
    assert again.calls == ["b"]


def test_a_failed_cell_keeps_the_finished_ones_and_is_retried(tmp_path):
    settings = Settings(out=str(tmp_path / "out"))
    failing = Counting(fail="b")
    with pytest.raises(RuntimeError, match="cell failed"):
        run_experiment(failing, settings, progress=False)
    assert failing.calls == ["a", "b"]
    assert os.listdir(settings.cells_dir) == ["a.csv"]  # nothing half-written for b
    assert not (tmp_path / "out" / "results.csv").exists()

    retry = Counting()
    results = run_experiment(retry, settings, progress=False)
    assert retry.calls == ["b", "c"]
    assert len(results) == 3


class FakeCLI:
    """Stands in for BenignCLI: records its arguments and what it found on disk."""

    instances: list[FakeCLI] = []

    def __init__(self, args: list[str]) -> None:
        self.args = args
        root = args[args.index("--trainer.default_root_dir") + 1]
        name = args[args.index("--run_name") + 1]
        self.run_dir = os.path.join(root, name)
        self.found_stale = os.path.exists(os.path.join(self.run_dir, "stale.txt"))
        os.makedirs(self.run_dir, exist_ok=True)
        FakeCLI.instances.append(self)


class OneFit(FitExperiment, Counting):
    """One ``benign fit`` cell, trained by :class:`FitExperiment` (with a fake CLI)."""

    def cells(self, settings: Settings) -> list[Cell]:
        return [Cell("fit", {"experiment": self.name}, args=("--config", "x.yaml"))]

    def collect(self, cell, settings, cli, run_dir):
        assert run_dir == cli.run_dir
        return [make_row(cell.columns, "acc", 0.5)]


def test_a_broken_run_directory_is_redone_from_scratch(tmp_path, monkeypatch):
    monkeypatch.setattr(benign.cli, "BenignCLI", FakeCLI)
    FakeCLI.instances.clear()
    settings = Settings(out=str(tmp_path / "out"))
    broken = os.path.join(settings.runs_dir, "fit")
    os.makedirs(broken)
    with open(os.path.join(broken, "stale.txt"), "w") as handle:
        handle.write("from an interrupted attempt")

    results = run_experiment(OneFit(), settings, progress=False)
    (cli,) = FakeCLI.instances
    assert not cli.found_stale
    assert cli.args[:3] == ["fit", "--config", "x.yaml"]
    assert cli.run_dir == broken
    assert list(results["value"]) == [0.5]
