"""``results.csv`` rows from a wandb project, for dashboards and the notebooks.

``benign repro`` stores each cell's descriptive columns in its wandb run's config under
``repro``; the run's summary holds the final ``train/...`` and ``test/...`` metrics. This reads
them back through the wandb public API (needs a login for online projects)::

    results = results_from_wandb("my-entity/benign", group="repro-label-noise-mnist")
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from benign.repro.fit_runs import metric_rows
from benign.repro.results import COLUMNS


def results_from_wandb(path: str, group: str | None = None, api: Any = None) -> pd.DataFrame:
    """The long results table of the ``benign repro`` runs in wandb project ``path``
    (``entity/project``), optionally one ``group`` (``repro-<experiment>-<dataset>``)."""
    if api is None:
        import wandb

        api = wandb.Api()
    filters = {"group": group} if group else None
    rows: list[dict[str, Any]] = []
    for run in api.runs(path, filters=filters):
        columns = dict(run.config.get("repro") or {})
        if not columns:
            continue  # not a `benign repro` cell
        metrics = {
            k: v
            for k, v in dict(run.summary).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        rows += metric_rows(metrics, columns)
    return pd.DataFrame(rows, columns=COLUMNS)
