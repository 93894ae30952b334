"""DDP without hangs: log values that are already the same on every rank, without a collective.

Lightning reduces a value logged with ``sync_dist=True`` lazily, when something first reads the
logged metrics; on rank zero that is the progress bar, on the other ranks ``ModelCheckpoint``, so
the ranks issue their collectives in different orders and a 2-process run hangs at the first
epoch end. benign therefore reduces inside its own hooks (on every rank, at the same point) and
logs the result with ``sync_dist=False``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import lightning as L
from lightning.fabric.utilities.warnings import PossibleUserWarning
from torch import Tensor

# Lightning's advice to pass sync_dist=True for epoch-level values under DDP: benign's values
# are reduced before they are logged (see above), so the advice does not apply to them.
warnings.filterwarnings(
    "ignore",
    message=r".*when logging on epoch level in distributed setting",
    category=PossibleUserWarning,
)


def log_synced(
    module: L.LightningModule, values: Mapping[str, float | Tensor], prog_bar: bool = False
) -> None:
    """Log epoch-level ``values`` that every rank already holds identically (reduced earlier)."""
    module.log_dict(dict(values), on_step=False, on_epoch=True, sync_dist=False, prog_bar=prog_bar)
