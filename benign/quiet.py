"""Start-up noise of the libraries benign builds on, filtered where it is emitted.

Each filter names one message and why it does not apply to benign; nothing else is hidden.

- Lightning's hint to "prepend your python command with srun" on any machine where SLURM's
  ``srun`` is installed: benign decides itself whether it runs under SLURM (``benign.slurm``),
  and a plain ``benign fit`` on a login node or a laptop with SLURM installed is deliberate.
- Lightning's "Tip: ... litlogger" line, printed by every Trainer: an advertisement.
- Lightning's use of a deprecated ``torch.utils._pytree`` check (``LeafSpec``): Lightning's own
  code, nothing a user can act on.
"""

from __future__ import annotations

import logging
import warnings

_SILENCED_LOG_LINES = ("litlogger",)


class _DropLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in _SILENCED_LOG_LINES)


def install() -> None:
    """Install the filters (idempotent)."""
    warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system")
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    # torch's weights_only unpickler on a file that is no checkpoint (LightningCLI reads a
    # --ckpt_path's hyperparameters before benign can say the file is unreadable)
    warnings.filterwarnings("ignore", message=r"Detected pickle protocol \d+ in the checkpoint")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropLines) for f in logger.filters):
            logger.addFilter(_DropLines())
