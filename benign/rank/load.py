"""The trained model and the data of a ``benign rank`` checkpoint.

The run's own ``config.yaml`` (next to ``checkpoints/``, as ``benign test --ckpt_path`` finds it;
or ``--config FILE``) gives the data module and the network; data options given on the command
line (``--data.data_dir``, ``--data.batch_size``...) edit it as in ``benign fit``. The weights
and the training labels (the split and the noisy labels the run trained on) come from the
checkpoint, so the ranking is of exactly the labels the model saw.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from benign.errors import ConfigError
from benign.preflight import check_checkpoint_fits, read_checkpoint
from benign.run_dir import run_dir_of_checkpoint


def run_config(ckpt_path: str, config: str | None) -> dict[str, Any]:
    """The ``data`` and ``model`` sections of ``config`` or of the checkpoint's run config."""
    if not os.path.isfile(ckpt_path):
        raise ConfigError(
            f"checkpoint {ckpt_path} not found: pass --ckpt_path <run>/checkpoints/last.ckpt"
        )
    if config is None:
        run_dir = run_dir_of_checkpoint(ckpt_path)
        if run_dir is None:
            raise ConfigError(
                f"checkpoint {ckpt_path} is not in a run directory (<run>/checkpoints/ next to "
                "<run>/config.yaml): pass the config it was trained with as --config FILE"
            )
        config = os.path.join(run_dir, "config.yaml")
    try:
        with open(config) as handle:
            loaded = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read the run config {config}: {error}") from None
    if not isinstance(loaded, dict) or not {"data", "model"} <= loaded.keys():
        raise ConfigError(
            f"{config} has no data and model sections: pass the run's config.yaml as --config"
        )
    return {"data": loaded["data"], "model": loaded["model"]}


def load_trained(ckpt_path: str, model: Any, datamodule: Any) -> Any:
    """Put the checkpoint's weights in ``model`` and its training labels in ``datamodule``, set
    the data up and return ``model`` in eval mode (one-line errors for a file that is no
    checkpoint or one of another network or dataset)."""
    checkpoint = read_checkpoint(ckpt_path)
    check_checkpoint_fits(checkpoint, ckpt_path, model, datamodule)
    model.load_state_dict(checkpoint["state_dict"])
    state = checkpoint.get(type(datamodule).__qualname__)
    if state:
        datamodule.load_state_dict(state)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return model.eval()


def training_attack(model: Any) -> tuple[float | None, float | None]:
    """``(eps, step_size)`` of the model's training attack (AT, TRADES), ``(None, None)`` for
    ERM."""
    attack = getattr(model, "attack", None)
    eps = getattr(attack, "eps", None)
    if eps is None:
        return None, None
    step = getattr(attack, "alpha", None) or getattr(attack, "step_size", None)
    return float(eps), float(step) if step is not None else None
