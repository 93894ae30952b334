"""The long ("tidy") results table of ``benign repro``: one measured number a row.

Columns are fixed by INTERFACE.md; ``eps`` is empty for metrics that involve no attack and
``metric`` drops the ``train/``/``test/`` prefix and ``@eps`` suffix (``robust_acc``, ``acc``,
``acc_noisy``, ``coarse_robust_acc``, ``precision_at_k``, ``adv_risk``, ...).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

COLUMNS = [
    "experiment",
    "dataset",
    "method",
    "backbone",
    "noise_rate",
    "noise_type",
    "label_level",
    "coarse_map",
    "train_eps",
    "seed",
    "eps",
    "metric",
    "value",
]

_METRIC = re.compile(r"^(?:train|val|test)/(?P<metric>[^@]+)(?:@(?P<eps>.+))?$")


def rows_from_metrics(
    metrics: Mapping[str, float], cell: Mapping[str, Any], stages: Iterable[str] = ("train", "test")
) -> list[dict[str, Any]]:
    """Rows for logged metrics such as ``test/robust_acc@0.1`` of one run (``cell`` fills the
    descriptive columns). Only the given stages are kept (validation is for model selection)."""
    rows = []
    for key, value in metrics.items():
        match = _METRIC.match(key)
        if match is None or key.split("/", 1)[0] not in stages:
            continue
        eps = match.group("eps")
        rows.append(
            make_row(
                cell, match.group("metric"), value, eps=float(eps) if eps is not None else None
            )
        )
    return rows


def make_row(
    cell: Mapping[str, Any], metric: str, value: float, eps: float | None = None
) -> dict[str, Any]:
    """One row: the descriptive columns of ``cell`` (missing ones empty), a metric and a value."""
    row = {column: cell.get(column) for column in COLUMNS}
    row.update(metric=metric, value=float(value), eps=eps)
    return row


def write_results(rows: Iterable[Mapping[str, Any]], path: str) -> pd.DataFrame:
    """Write rows as ``results.csv`` (atomically: a temporary file, then rename)."""
    frame = pd.DataFrame(list(rows), columns=COLUMNS)
    tmp = f"{path}.tmp"
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return frame


def read_results(path: str) -> pd.DataFrame:
    """Read a ``results.csv`` written by :func:`write_results`."""
    return pd.read_csv(path)
