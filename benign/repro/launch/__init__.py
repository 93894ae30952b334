"""Launchers of ``benign repro``: where a grid's cells run.

* in this process, one cell after the other (``--jobs 1``, the default);
* ``local``: a pool of worker processes on this machine (``--jobs N``, ``--launcher local``),
  a dynamic queue: a worker takes the next cell as soon as it finishes one;
* ``slurm``: one SLURM job array of the grid's pending cells, submitted with submitit
  (``--launcher slurm``), each array task one cell, requeued and resumed when preempted.

Every launcher runs a cell with the same plain function, :func:`benign.repro.launch.cell.run_cell`
(experiment name, settings, cell: all picklable, nothing kept between calls), which stores the
cell's rows in ``<out>/cells/<cell>.csv``; :func:`benign.repro.runner.gather` then writes
``results.csv``, the figure and the summary from the stored cells, so the same grid and seeds
give the same rows whichever launcher ran them.
"""

from __future__ import annotations

#: The values of ``--launcher``.
LAUNCHERS = ("local", "slurm")
