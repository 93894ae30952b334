"""Where a run writes: ``<save_dir>/<run name>/`` (INTERFACE.md, "Run directory").

A run directory holds the resolved ``config.yaml``, ``checkpoints/`` (with ``last.ckpt``), the
CSV metrics log, the noise manifest ``noise.npz`` and the offline wandb run. A new run never
reuses an existing directory (a ``-v<N>`` suffix is added); ``--ckpt_path last`` resumes in
the newest directory of that name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass


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
