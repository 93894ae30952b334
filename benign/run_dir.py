"""Where a run writes: ``<save_dir>/<run name>/`` (INTERFACE.md, "Run directory").

A run directory holds the resolved ``config.yaml``, ``checkpoints/`` (with ``last.ckpt``), the
CSV metrics log, the noise manifest ``noise.npz`` and the offline wandb run. A new run never
reuses an existing directory (a ``-v<N>`` suffix is added); ``--ckpt_path last`` resumes in
the newest directory of that name.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunLocation:
    """A run directory split the way Lightning's loggers want it."""

    save_dir: str
    name: str
    version: str = ""

    @property
    def path(self) -> str:
        """The directory the loggers write to (``save_dir/name[/version]``)."""
        return (
            os.path.join(self.save_dir, self.name, self.version)
            if self.version
            else os.path.join(self.save_dir, self.name)
        )

    @property
    def checkpoint_dir(self) -> str:
        return os.path.join(self.save_dir, self.name, "checkpoints")


def default_run_name(
    dataset: str, method: str, noise_rate: float, seed: int | None, label_level: str = "fine"
) -> str:
    """``<dataset>-<method>-noise<rate>-seed<s>`` (``-coarse`` appended for coarse labels)."""
    name = f"{dataset}-{method}-noise{noise_rate:g}-seed{seed if seed is not None else 'none'}"
    return f"{name}-coarse" if label_level == "coarse" else name


def run_name_of(datamodule: Any, model: Any, seed: int | None) -> str:
    """The default run name of a data module and method (:func:`default_run_name`)."""
    return default_run_name(
        dataset=getattr(datamodule, "name", type(datamodule).__name__.lower()),
        method=getattr(model, "method_name", type(model).__name__.lower()),
        noise_rate=getattr(datamodule, "noise_rate", 0.0),
        seed=seed,
        label_level=getattr(datamodule, "label_level", "fine"),
    )


def versions_of(save_dir: str, name: str) -> list[str]:
    """Existing directories ``name``, ``name-v1``, ``name-v2``... oldest first."""
    if not os.path.isdir(save_dir):
        return []
    pattern = re.compile(re.escape(name) + r"(?:-v(\d+))?$")
    found = []
    for entry in os.listdir(save_dir):
        match = pattern.fullmatch(entry)
        if match and os.path.isdir(os.path.join(save_dir, entry)):
            found.append((int(match.group(1) or 0), entry))
    return [entry for _, entry in sorted(found)]


def new_run_name(save_dir: str, name: str) -> str:
    """``name`` if free, else the next free ``name-v<N>``: an earlier run is never reused."""
    taken = versions_of(save_dir, name)
    if not taken:
        return name
    last = taken[-1]
    number = int(last.rsplit("-v", 1)[1]) if last != name else 0
    return f"{name}-v{number + 1}"


def latest_run_name(save_dir: str, name: str) -> str | None:
    """The newest existing directory of ``name`` (for ``--ckpt_path last``), or None."""
    taken = versions_of(save_dir, name)
    return taken[-1] if taken else None


def run_dir_of_checkpoint(ckpt_path: str) -> str | None:
    """The run directory holding ``<run>/checkpoints/<file>.ckpt``, or None if not in one."""
    ckpt_dir = os.path.dirname(os.path.abspath(ckpt_path))
    if os.path.basename(ckpt_dir) != "checkpoints":
        return None
    run_dir = os.path.dirname(ckpt_dir)
    return run_dir if os.path.isfile(os.path.join(run_dir, "config.yaml")) else None


#: The run's identity, beside its config: ``{"name", "slurm_job", "wandb_id", "created"}``.
RECORD_FILE = "run.json"


def claim_run_dir(save_dir: str, name: str) -> str:
    """Create ``save_dir/name`` (or the next free ``name-v<N>``) and return the name taken.

    ``os.mkdir`` either creates the directory or fails, so two runs started at the same moment
    with the same name never share a directory."""
    os.makedirs(save_dir, exist_ok=True)
    candidate = new_run_name(save_dir, name)
    while True:
        try:
            os.mkdir(os.path.join(save_dir, candidate))
            return candidate
        except FileExistsError:
            taken = versions_of(save_dir, name)
            last = taken[-1] if taken else name
            number = int(last.rsplit("-v", 1)[1]) if last != name else 0
            candidate = f"{name}-v{number + 1}"


def read_record(run_dir: str) -> dict[str, Any]:
    """The run's ``run.json`` (empty when it has none, e.g. a run made before it existed)."""
    try:
        with open(os.path.join(run_dir, RECORD_FILE)) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def write_record(run_dir: str, record: dict[str, Any]) -> None:
    """Write ``run.json`` atomically (a temporary file renamed over it)."""
    path = os.path.join(run_dir, RECORD_FILE)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.replace(temporary, path)


def new_record(name: str, slurm_job: str | None, requested: str | None = None) -> dict[str, Any]:
    """The identity of a new run: its name (and the name asked for, before any ``-v<N>``), its
    SLURM job (if any) and its wandb run id."""
    return {
        "name": name,
        "requested_name": requested or name,
        "slurm_job": slurm_job,
        "wandb_id": uuid.uuid4().hex[:12],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def run_of_job(save_dir: str, slurm_job: str, requested: str) -> str | None:
    """The unfinished run named ``requested`` that SLURM job ``slurm_job`` created under
    ``save_dir``, if any: where the job continues when SLURM requeues it. (A job that runs
    several fits, e.g. the cells of a grid, continues each under its own name.)"""
    if not os.path.isdir(save_dir):
        return None
    for entry in sorted(os.listdir(save_dir)):
        path = os.path.join(save_dir, entry)
        record = read_record(path) if os.path.isdir(path) else {}
        if (
            record.get("slurm_job") == slurm_job
            and record.get("requested_name", entry) == requested
            and not record.get("finished")
        ):
            return entry
    return None
