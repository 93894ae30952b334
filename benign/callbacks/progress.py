"""A progress bar for a callback's own pass over a loader (robustness grid, memorisation counts).

Shown where the Trainer shows its own bar (``--trainer.enable_progress_bar``, on by default), on
global rank 0 only (no collective: nothing a DDP rank could wait on), in the same style: a
``tqdm`` bar like Lightning's ``TQDMProgressBar`` beside it, or a task of the ``RichProgressBar``'s
own display. It disappears when the pass ends, as Lightning's validation bar does.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

T = TypeVar("T")


def pass_progress(trainer: L.Trainer | None, items: Iterable[T], description: str) -> Iterable[T]:
    """``items``, with a progress bar named ``description`` while they are consumed (when the
    trainer shows one; otherwise ``items`` unchanged)."""
    bar = trainer.progress_bar_callback if trainer is not None else None
    if bar is None or not bar.is_enabled or not trainer.is_global_zero:
        return items
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    if isinstance(bar, RichProgressBar) and bar.progress is not None:
        return _rich(bar, items, description, total)
    bar_format = bar.BAR_FORMAT if isinstance(bar, TQDMProgressBar) else None
    return Tqdm(
        items,
        desc=description,
        total=total,
        leave=False,
        dynamic_ncols=True,
        file=sys.stdout,
        smoothing=0,
        bar_format=bar_format,
    )


def _rich(
    bar: RichProgressBar, items: Iterable[T], description: str, total: int | None
) -> Iterator[T]:
    progress = bar.progress
    task = progress.add_task(description, total=total)
    try:
        for item in items:
            yield item
            progress.advance(task)
    finally:
        progress.remove_task(task)
