"""Sample outputs of ``benign repro <experiment> --quick`` (one seed), shipped so that the
notebooks run on a fresh clone, and the look-up the notebooks share.

Each ``<experiment>/`` folder here holds the ``results.csv`` of one real run of
``benign repro <experiment> --quick`` (and, for ``mislabelled``, the seed-0 rankings and
``candidates.png`` the notebook reads beside it). They are examples of the format and of one
seed's numbers, not the paper's results: ``docs/results/`` holds those, over several seeds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

#: Where the samples live (one folder per experiment).
SAMPLES_DIR = Path(__file__).resolve().parent
#: The command that made each sample (seed 0; the digits grids, ``--quick``).
SAMPLE_COMMANDS = {
    "label-noise": "benign repro label-noise --quick",
    "memorization": "benign repro memorization --quick --set 'train_eps={AT: [0.1], TRADES: [0.1]}'",
    "fine-vs-coarse": "benign repro fine-vs-coarse --quick",
    "mislabelled": "benign repro mislabelled --quick",
    "theorem1": "benign repro theorem1 --quick",
    "representation": "benign repro representation --quick",
    "boundary": "benign repro boundary --quick",
    "fine-vs-coarse-factors": "benign repro fine-vs-coarse-factors --quick",
}


def sample_results(experiment: str) -> str:
    """The shipped ``results.csv`` of ``experiment`` (FileNotFoundError if none ships)."""
    path = SAMPLES_DIR / experiment / "results.csv"
    if not path.is_file():
        shipped = sorted(p.name for p in SAMPLES_DIR.iterdir() if (p / "results.csv").is_file())
        raise FileNotFoundError(
            f"no sample results for {experiment!r}: samples ship for {', '.join(shipped)}"
        )
    return str(path)


def find_results(
    experiment: str, roots: Sequence[str] = (".", ".."), environ: dict | None = None
) -> tuple[str, str]:
    """``(path of a results.csv, a line saying what it is)`` for a notebook of ``experiment``.

    In order: ``$BENIGN_RESULTS``; the user's own ``repro_out/<experiment>/results.csv``
    (the default ``--out`` of ``benign repro``) under one of ``roots`` (the repository root
    and ``notebooks/`` both work); else the shipped sample (:func:`sample_results`).
    """
    environ = os.environ if environ is None else environ
    given = environ.get("BENIGN_RESULTS")
    if given:
        return given, f"results: {given} ($BENIGN_RESULTS)"
    for root in roots:
        path = os.path.join(root, "repro_out", experiment, "results.csv")
        if os.path.isfile(path):
            return path, f"results: your own run, {os.path.normpath(path)}"
    path = sample_results(experiment)
    made_by = SAMPLE_COMMANDS.get(experiment, f"benign repro {experiment} --quick")
    return path, (
        f"results: the sample shipped with benign (`{made_by}`, one seed), {path}; run "
        f"`benign repro {experiment} --quick --seeds 3` to see your own"
    )
