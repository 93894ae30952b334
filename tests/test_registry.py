"""One registry mechanism: short names for datasets, methods, backbones and experiments, each a
class path jsonargparse can build, resolved the same way on the command line and in code."""

from __future__ import annotations

import importlib

import pytest

from benign.cli_args import SHORT_NAMES, expand_short_names
from benign.data import DATASETS, BenignDataModule
from benign.errors import ConfigError
from benign.methods import METHODS, BenignModule
from benign.models import BACKBONES, Backbone
from benign.registry import Registry
from benign.repro.base import Experiment
from benign.repro.registry import EXPERIMENTS, get_experiment


def test_registry_resolves_case_insensitively_and_lists_names_on_error() -> None:
    registry = Registry("thing", {"alpha": "collections.OrderedDict", "beta": "json.dumps"})
    assert list(registry) == ["alpha", "beta"] and len(registry) == 2
    assert "ALPHA" in registry and registry["Alpha"] == "collections.OrderedDict"
    assert registry.canonical("BETA") == "beta"
    assert registry.load("beta") is importlib.import_module("json").dumps
    assert registry.name_of("json.dumps") == "beta" and registry.name_of("json.loads") is None
    with pytest.raises(ConfigError, match=r"^unknown thing 'gamma': use one of alpha, beta$"):
        registry.load("gamma")
    registry["Gamma"] = "json.loads"  # a plugin's line
    assert registry.load("gamma") is importlib.import_module("json").loads
    del registry["GAMMA"]
    assert "gamma" not in registry and list(registry) == ["alpha", "beta"]
    with pytest.raises(ConfigError, match="'loads' is not a dotted import path"):
        registry["gamma"] = "loads"
    strict = Registry("thing", {"AT": "json.dumps"}, case_sensitive=True)
    assert "AT" in strict and "at" not in strict


@pytest.mark.parametrize(
    ("registry", "base"),
    [
        (DATASETS, BenignDataModule),
        (METHODS, BenignModule),
        (BACKBONES, Backbone),
        (EXPERIMENTS, Experiment),
    ],
)
def test_every_registered_name_loads_a_component_of_its_kind(
    registry: Registry, base: type
) -> None:
    for name in registry:
        component = registry.load(name)
        assert isinstance(component, type) and issubclass(component, base), name
        if registry is not EXPERIMENTS:  # the public path users write in YAML
            module, _, attribute = registry[name].rpartition(".")
            assert getattr(importlib.import_module(module), attribute) is component


def test_experiments_by_name() -> None:
    assert get_experiment("LABEL-NOISE").name == "label-noise"
    with pytest.raises(ConfigError, match="unknown experiment 'nope': use one of label-noise"):
        get_experiment("nope")


def test_command_line_short_names_become_class_paths() -> None:
    argv = [
        "fit",
        "--data",
        "digits",
        "--model=at",
        "--model.backbone",
        "DIGITS_CNN",
        "--x",
        "digits",
    ]
    assert expand_short_names(argv) == [
        "fit", "--data", "benign.data.DigitsDataModule", "--model=benign.methods.AdversarialTraining",
        "--model.backbone", "benign.models.DigitsCNN", "--x", "digits",
    ]  # fmt: skip
    # Class names and paths are jsonargparse's to resolve: left as they are.
    argv = [
        "fit",
        "--model",
        "AdversarialTraining",
        "--model.backbone",
        "DigitsCNN",
        "--data",
        "a.b.C",
    ]
    assert expand_short_names(argv) == argv
    assert set(SHORT_NAMES) == {"data", "model", "model.backbone", "model.init_args.backbone"}
