"""Tiny `benign repro` outputs shared by the end-to-end and notebook tests (one run each)."""

from __future__ import annotations

import os

import pytest

from tests.repro.helpers import tiny_repro


@pytest.fixture(scope="session")
def tiny_results(tmp_path_factory):
    """``tiny_results(experiment)`` -> the out folder of a tiny run of it (made once)."""
    made: dict[str, str] = {}

    def make(experiment: str) -> str:
        if experiment not in made:
            out = str(tmp_path_factory.mktemp("repro") / experiment)
            with pytest.MonkeyPatch.context() as monkeypatch:
                cwd = os.getcwd()
                try:
                    os.chdir(os.path.dirname(out))
                    tiny_repro(experiment, out, monkeypatch)
                finally:
                    os.chdir(cwd)
            made[experiment] = out
        return made[experiment]

    return make
