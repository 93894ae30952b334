"""The experiments of ``benign repro`` by name (INTERFACE.md: the experiment names)."""

from __future__ import annotations

from benign.registry import Registry
from benign.repro.base import Experiment

#: name -> the experiment's class; imported only when asked for.
EXPERIMENTS = Registry(
    "experiment",
    {
        "label-noise": "benign.repro.experiments.label_noise.LabelNoise",
        "memorization": "benign.repro.experiments.memorization.Memorization",
        "fine-vs-coarse": "benign.repro.experiments.fine_vs_coarse.FineVsCoarse",
        "mislabelled": "benign.repro.experiments.mislabelled.Mislabelled",
        "theorem1": "benign.repro.experiments.theorem1.Theorem1",
        "representation": "benign.repro.experiments.representation.Representation",
        "boundary": "benign.repro.experiments.boundary.Boundary",
        "fine-vs-coarse-factors": (
            "benign.repro.experiments.fine_vs_coarse_factors.FineVsCoarseFactors"
        ),
    },
)


def get_experiment(name: str) -> Experiment:
    """A fresh instance of the experiment called ``name`` (ConfigError for an unknown name)."""
    experiment = EXPERIMENTS.load(name)()
    if not isinstance(experiment, Experiment):
        raise TypeError(f"{EXPERIMENTS[name]} is not a benign.repro.base.Experiment")
    return experiment
