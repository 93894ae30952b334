"""One tiny E4 run (AT on 200 digits, 10% planted flips, 1 epoch) shared by the rank tests."""

from __future__ import annotations

import os

import pytest

from tests.repro.helpers import tiny_repro


@pytest.fixture(scope="session")
def tiny_at_run(tmp_path_factory) -> str:
    """The out folder of ``benign repro mislabelled`` with AT as the only ranker; its run is
    ``<out>/runs/at-symmetric-seed0`` (checkpoint ``checkpoints/last.ckpt``)."""
    out = str(tmp_path_factory.mktemp("rank") / "mislabelled")
    with pytest.MonkeyPatch.context() as monkeypatch:
        cwd = os.getcwd()
        try:
            os.chdir(os.path.dirname(out))
            # Validation every epoch: Lightning saves last.ckpt after validation when
            # check_val_every_n_epoch > 1, so a 1-epoch run would have no checkpoint.
            edits = ["rankers=[AT]", "steps_rankers=[]", "cleanlab=null", "logreg_pixels=null",
                     "args.trainer.check_val_every_n_epoch=1"]  # fmt: skip
            tiny_repro("mislabelled", out, monkeypatch, *[a for e in edits for a in ("--set", e)])
        finally:
            os.chdir(cwd)
    return out


@pytest.fixture()
def checkpoint(tiny_at_run: str) -> str:
    return os.path.join(tiny_at_run, "runs", "at-symmetric-seed0", "checkpoints", "last.ckpt")
