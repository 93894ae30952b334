"""``benign bench``: what a training step and an attack cost, as ratios that hold on a busy machine.

See :mod:`benign.bench.cli` for the command and :mod:`benign.bench.runner` for what is measured.
"""

from benign.bench.cases import INPUTS, MODELS, BenchCase
from benign.bench.runner import BenchSettings, run_bench

__all__ = ["INPUTS", "MODELS", "BenchCase", "BenchSettings", "run_bench"]
