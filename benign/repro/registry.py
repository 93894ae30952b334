"""The experiments of ``benign repro`` by name (INTERFACE.md: the six experiment names)."""

from __future__ import annotations

import importlib

from benign.errors import ConfigError
from benign.repro.base import Experiment

#: name -> ``"module:Class"``; imported only when asked for.
EXPERIMENTS: dict[str, str] = {
    "label-noise": "benign.repro.experiments.label_noise:LabelNoise",
    "memorization": "benign.repro.experiments.memorization:Memorization",
    "fine-vs-coarse": "benign.repro.experiments.fine_vs_coarse:FineVsCoarse",
    "mislabelled": "benign.repro.experiments.mislabelled:Mislabelled",
    "theorem1": "benign.repro.experiments.theorem1:Theorem1",
    "representation": "benign.repro.experiments.representation:Representation",
}


def get_experiment(name: str) -> Experiment:
    """A fresh instance of the experiment called ``name`` (ConfigError for an unknown name)."""
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}: use one of {', '.join(EXPERIMENTS)}")
    module_name, class_name = EXPERIMENTS[name].split(":")
    experiment = getattr(importlib.import_module(module_name), class_name)()
    if not isinstance(experiment, Experiment):
        raise TypeError(f"{EXPERIMENTS[name]} is not a benign.repro.base.Experiment")
    return experiment
