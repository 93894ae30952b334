"""The ``--slurm.*`` options of ``benign repro --launcher slurm`` (or ``--slurm.config FILE``):
parsed and checked here, turned into submitit ``SlurmExecutor`` parameters for the cell tasks.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import yaml

from benign.errors import ConfigError

#: submitit reads its preemption signal from this variable (its default is USR2).
PREEMPT_SIGNAL_ENV = "SUBMITIT_PREEMPT_SIGNAL"

#: ``--slurm.<key>``: (metavar, help) of each option of :class:`SlurmOptions`.
OPTION_HELP = {
    "partition": ("P", "partition of the array tasks (default: the cluster's)"),
    "gpus_per_task": ("N", "GPUs of each task, i.e. of each cell (default: none)"),
    "cpus_per_task": (
        "N",
        "CPUs of each task, also its torch threads unless --threads (default: the cluster's)",
    ),
    "mem": ("MEM", "memory of each task, e.g. 8G (default: the cluster's)"),
    "time": (
        "T",
        "time limit of each task, minutes or [D-]HH:MM:SS (default: 60); a cell that needs "
        "longer is checkpointed, requeued and resumed",
    ),
    "array_parallelism": ("K", "at most this many tasks at once (default: all)"),
    "account": ("A", "account to charge"),
    "qos": ("Q", "quality of service"),
    "signal_delay_s": (
        "S",
        "SIGUSR1 this many seconds before the time limit: the cell checkpoints and its task "
        "is requeued (default: 90)",
    ),
}


def parse_time(value: Any) -> int:
    """A SLURM time limit in whole minutes: ``90``, ``"90"``, ``"MM:SS"``, ``"HH:MM:SS"``,
    ``"D-HH"``, ``"D-HH:MM"``, ``"D-HH:MM:SS"`` (seconds round up)."""
    text = str(value).strip()
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if isinstance(value, bool) or match is None:
        raise ConfigError(
            f"--slurm.time {value!r}: give minutes or [D-]HH:MM:SS, e.g. 90 or 01:30:00"
        )
    days, first, second, third = match.groups()
    parts = [int(p) for p in (first, second, third) if p is not None]
    if days is not None:  # D-HH[:MM[:SS]]
        hours, minutes, seconds = (parts + [0, 0])[:3]
        total = ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds
    elif len(parts) == 1:  # minutes
        total = parts[0] * 60
    elif len(parts) == 2:  # MM:SS
        total = parts[0] * 60 + parts[1]
    else:  # HH:MM:SS
        total = (parts[0] * 60 + parts[1]) * 60 + parts[2]
    if total <= 0:
        raise ConfigError(f"--slurm.time {value!r} must be positive")
    return math.ceil(total / 60)


def parse_mem(value: Any) -> str:
    """A SLURM memory size: a number of megabytes or one with a K/M/G/T suffix (``8G``)."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"\d+[KMGTkmgt]?[Bb]?", text):
        raise ConfigError(f"--slurm.mem {value!r}: give megabytes or a size like 8G or 500M")
    return text


def _positive_int(key: str) -> Any:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not re.fullmatch(r"\d+", str(value).strip()):
            raise ConfigError(f"--slurm.{key} {value!r} must be a whole number")
        number = int(str(value).strip())
        if number < (0 if key == "signal_delay_s" else 1):
            raise ConfigError(f"--slurm.{key} must be >= 1, got {number}")
        return number

    return parse


def _text(key: str) -> Any:
    def parse(value: Any) -> str:
        text = str(value).strip()
        if not text or any(c.isspace() for c in text):
            raise ConfigError(f"--slurm.{key} {value!r} must be one word")
        return text

    return parse


@dataclass(frozen=True)
class SlurmOptions:
    """The ``--slurm.*`` options (``--slurm.config FILE`` holds the same keys in YAML).

    Attributes:
        partition, account, qos: as ``sbatch --partition/--account/--qos`` (cluster default).
        gpus_per_task, cpus_per_task: resources of every array task (one cell).
        mem: memory of every task, ``8G`` or megabytes.
        time: time limit of every task in minutes (``--slurm.time`` also takes HH:MM:SS).
        array_parallelism: at most this many tasks run at once (``--array=0-N%K``).
        signal_delay_s: SIGUSR1 this many seconds before the time limit (checkpoint, requeue).
    """

    partition: str | None = None
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    time: int = 60
    array_parallelism: int | None = None
    account: str | None = None
    qos: str | None = None
    signal_delay_s: int = 90

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def parse(cls, config: str | None = None, values: Mapping[str, Any] | None = None):
        """Options from the YAML file ``config`` updated with ``values`` (the command line;
        None means not given)."""
        merged: dict[str, Any] = {}
        if config is not None:
            if not os.path.isfile(config):
                raise ConfigError(f"--slurm.config {config!r} not found: check the path")
            with open(config) as handle:
                data = yaml.safe_load(handle) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"--slurm.config {config} must hold a YAML mapping of options")
            unknown = sorted(set(data) - set(cls.keys()))
            if unknown:
                raise ConfigError(
                    f"--slurm.config {config}: unknown key(s) {', '.join(unknown)}; the keys are "
                    f"{', '.join(cls.keys())}"
                )
            merged.update({k: v for k, v in data.items() if v is not None})
        merged.update({k: v for k, v in (values or {}).items() if v is not None})
        return cls(**{key: _PARSERS[key](value) for key, value in merged.items()})

    def executor_parameters(self) -> dict[str, Any]:
        """submitit ``SlurmExecutor`` parameters for the cell tasks."""
        parameters: dict[str, Any] = {
            "time": self.time,
            "signal_delay_s": self.signal_delay_s,
            # SIGUSR1, not submitit's USR2: the signal benign fit checkpoints on.
            "setup": [f"export {PREEMPT_SIGNAL_ENV}=USR1"],
            "additional_parameters": {"signal": f"USR1@{self.signal_delay_s}", "requeue": True},
        }
        for key in ("partition", "gpus_per_task", "cpus_per_task", "mem", "account", "qos"):
            if getattr(self, key) is not None:
                parameters[key] = getattr(self, key)
        if self.array_parallelism is not None:
            parameters["array_parallelism"] = self.array_parallelism
        return parameters


_PARSERS: dict[str, Any] = {
    "partition": _text("partition"),
    "account": _text("account"),
    "qos": _text("qos"),
    "gpus_per_task": _positive_int("gpus_per_task"),
    "cpus_per_task": _positive_int("cpus_per_task"),
    "array_parallelism": _positive_int("array_parallelism"),
    "signal_delay_s": _positive_int("signal_delay_s"),
    "mem": parse_mem,
    "time": parse_time,
}
