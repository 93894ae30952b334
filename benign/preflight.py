"""Checks a command runs before it creates anything: a bad input leaves no folder, file or wandb run.

``benign fit``/``test`` check the run name, the output folder, the data (files, noise file,
split), and the checkpoint (readable, of this dataset and model) before the run directory is
claimed, a logger starts or Lightning prints a line; a resume is also checked against the run's
record (:func:`changed_keys`): what the run *is* may not change on a resume.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
import zipfile
from typing import Any

import torch

from benign.errors import ConfigError, first_line

#: Config keys that say what a run is: a resume that changes one of them is refused. Keys are
#: dotted paths into the run's config; a key covers everything below it.
IDENTITY_KEYS = (
    "seed_everything",
    "data.class_path",
    "data.init_args.noise_rate",
    "data.init_args.noise_type",
    "data.init_args.noise_seed",
    "data.init_args.noise_classes",
    "data.init_args.noise_file",
    "data.init_args.label_level",
    "data.init_args.coarse_map",
    "data.init_args.train_subset",
    "data.init_args.val_split",
    "data.init_args.split_seed",
    "model.class_path",
    "model.init_args",
)
#: Below an identity key, what may still change on a resume (the schedule follows max_epochs).
MAY_CHANGE = ("model.init_args.optimizer", "model.init_args.lr_scheduler")
#: Lightning's ``--ckpt_path`` keywords, which name no file.
CKPT_KEYWORDS = ("last", "best", "hpc")


def check_run_name(name: str) -> str:
    """A run name is one folder name: no path separator, no ``..``, not hidden."""
    if not name or name.strip() != name or name.startswith(".") or "/" in name or (os.sep in name):
        raise ConfigError(
            f"--run_name {name!r} is not a folder name: use letters, digits, '-', '_' and '.', "
            "without '/' or a leading '.' (the run is written under --trainer.default_root_dir)"
        )
    return name


def check_save_dir(save_dir: str) -> None:
    """``save_dir`` exists as a writable folder, or can be created: checked by creating (and
    removing) a temporary folder in its nearest existing ancestor, so nothing stays behind."""
    path = os.path.abspath(save_dir)
    ancestor = path
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ConfigError(
            f"--trainer.default_root_dir {save_dir}: {ancestor} is a file, not a folder; "
            "choose another folder for the runs"
        )
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".benign-check-", dir=ancestor))
    except OSError as error:
        raise ConfigError(
            f"--trainer.default_root_dir {save_dir}: cannot create folders in {ancestor} "
            f"({error.strerror or error}); choose a writable folder for the runs"
        ) from None


def unreadable_checkpoint(path: str, error: BaseException) -> ConfigError:
    """The one line for a checkpoint file that cannot be loaded at all."""
    return ConfigError(
        f"{path} is not a readable checkpoint ({type(error).__name__}: corrupt, truncated or "
        "not a .ckpt file): use another checkpoint of the run, e.g. its best-*.ckpt"
    )


def checkpoint_misfit(path: str, detail: str) -> ConfigError:
    """The one line for a checkpoint whose weights do not fit the configured model."""
    return ConfigError(
        f"the checkpoint {path} does not fit the configured model ({detail}): "
        "configure the model and data it was trained with (its run's config.yaml; "
        "drop overrides of --model or --data.label_level)"
    )


def read_checkpoint(path: str) -> dict[str, Any]:
    """Load a checkpoint's contents on the CPU (memory-mapped), or say it is unreadable."""
    try:
        with warnings.catch_warnings():  # torch's notes on a file that is no checkpoint at all
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, RuntimeError, ValueError) as e:
        raise unreadable_checkpoint(path, e) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ConfigError(f"{path} is not a Lightning checkpoint (it holds no state_dict)")
    return checkpoint


def _describe(name: str, shape: Any, classes: Any) -> str:
    size = "x".join(str(s) for s in list(shape)[-2:]) if shape else "?"
    return f"{name} ({size}, {classes} classes)"


def check_checkpoint_fits(
    checkpoint: dict[str, Any], path: str, model: torch.nn.Module, datamodule: Any
) -> None:
    """The checkpoint was trained on this dataset (name, input shape) and fits this model."""
    saved = next(
        (v for v in checkpoint.values() if isinstance(v, dict) and "dataset" in v and
         "input_shape" in v),
        None,
    )  # fmt: skip
    here_shape = list(getattr(datamodule, "input_shape", ()) or ())
    if saved is not None and (
        saved["dataset"] != getattr(datamodule, "name", saved["dataset"])
        or list(saved["input_shape"]) != here_shape
    ):
        raise ConfigError(
            f"checkpoint {path} was trained on "
            f"{_describe(saved['dataset'], saved['input_shape'], saved.get('num_classes'))} and "
            f"cannot be used on {_describe(datamodule.name, here_shape, datamodule.num_classes)}: "
            "pass the config of its run (its config.yaml) or a checkpoint of this dataset"
        )
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in checkpoint["state_dict"].items() if hasattr(v, "shape")}
    parts = []
    other_shape = [k for k in expected.keys() & found.keys() if expected[k] != found[k]]
    if other_shape:
        parts.append(f"{len(other_shape)} parameters of another shape")
    for kind, names in (
        ("missing", expected.keys() - found),
        ("unexpected", found - expected.keys()),
    ):
        if names:
            parts.append(f"{len(names)} {kind}")
    if parts:
        raise checkpoint_misfit(path, ", ".join(parts))


def _flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(config, dict):
        flat: dict[str, Any] = {}
        for key, value in config.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): config}


def _covered(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def changed_keys(recorded: dict[str, Any], requested: dict[str, Any]) -> tuple[dict, dict]:
    """``(identity, other)``: the config keys whose values differ between a run's recorded
    config and a resume's, split into those that change what the run is and the rest; each maps
    a dotted key to ``(recorded, requested)``."""
    old, new = _flatten(recorded), _flatten(requested)
    identity, other = {}, {}
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if _covered(key, IDENTITY_KEYS) and not _covered(key, MAY_CHANGE):
            identity[key] = (before, after)
        else:
            other[key] = (before, after)
    return identity, other


def refuse_identity_change(run_dir: str, identity: dict[str, tuple[Any, Any]]) -> None:
    """One line naming the identity keys a resume would change, and how to start a new run."""
    if not identity:
        return
    shown = "; ".join(
        f"--{key.replace('.init_args', '')}: {old!r} -> {new!r}"
        for key, (old, new) in list(identity.items())[:4]
    )
    more = f" (and {len(identity) - 4} more)" if len(identity) > 4 else ""
    raise ConfigError(
        f"cannot resume {run_dir} with other settings of what the run is ({shown}{more}): "
        "resume with its own config (drop these options), or start a new run without "
        "--ckpt_path (or with another --run_name)"
    )


def check_trainer_options(options: dict[str, Any]) -> None:
    """Build a throwaway Trainer of ``options`` (no logger, callbacks or checkpoints, its log
    lines muted) so that a bad accelerator, device count, precision or strategy fails before a
    run directory or logger exists."""
    import logging
    import warnings

    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch import Trainer

    dry = {k: v for k, v in options.items() if k not in ("logger", "callbacks", "default_root_dir")}
    dry.update(logger=False, callbacks=[], enable_checkpointing=False)
    lightning_log = logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    lightning_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Trainer(**dry)
    except ModuleNotFoundError as error:  # Lightning's "Requirement 'torch_xla' not met. HINT..."
        raise ConfigError(
            f"--trainer.accelerator {options.get('accelerator')!r} needs a package that is not "
            f"installed ({str(error).split(' HINT')[0]}): use --trainer.accelerator cpu, gpu or auto"
        ) from None
    except (MisconfigurationException, ValueError, TypeError, RuntimeError) as error:
        raise ConfigError(f"invalid trainer options: {first_line(error)}") from None
    finally:
        lightning_log.setLevel(level)
