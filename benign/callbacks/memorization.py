"""How much of the label noise a model has fitted (PAPER.md E1/E2)."""

from __future__ import annotations

from collections.abc import Iterable

import lightning as L
import torch
from torch import Tensor, nn

from benign.callbacks.progress import pass_progress
from benign.data.loaders import eval_loader
from benign.distributed import log_synced
from benign.errors import ConfigError

#: ``(x, observed label, dataset index)``, as every benign loader yields.
Batch = tuple[Tensor, Tensor, Tensor]


class Memorization(L.Callback):
    """Score the whole training split in eval mode, separately on noisy and clean points.

    Logs, every ``every_n_epochs`` epochs (and at the last one):

    - ``train/acc_noisy``: noisy-labelled points predicted as their *noisy* label (fitting
      the noise; "to convergence" means this reaches ~1 for ERM);
    - ``train/true_acc_noisy``: noisy-labelled points predicted as their *true* label;
    - ``train/acc_clean``: accuracy on the clean-labelled points.

    The two noisy metrics are omitted when the training split has no noisy label. Points are
    sharded over DDP ranks without repeats and the counts summed, so each is counted once.

    Args:
        every_n_epochs: evaluate every n training epochs.
        batch_size: evaluation batch size (``None``: the data module's).
    """

    def __init__(self, every_n_epochs: int = 1, batch_size: int | None = None) -> None:
        if every_n_epochs < 1:
            raise ConfigError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.every_n_epochs = every_n_epochs
        self.batch_size = batch_size
        #: The last results, ``{"train/acc_noisy": 0.98, ...}``.
        self.results: dict[str, float] = {}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        last = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs
        if (trainer.current_epoch + 1) % self.every_n_epochs and not last:
            return
        datamodule = trainer.datamodule
        loader = eval_loader(
            datamodule.train_eval_dataset,
            self.batch_size or datamodule.eval_batch_size,
            rank=trainer.global_rank,
            world_size=trainer.world_size,
        )
        batches = pass_progress(trainer, loader, "memorisation (train labels fitted)")
        with trainer.precision_plugin.forward_context():
            counts = memorization_counts(
                pl_module, batches, datamodule.true_targets, datamodule.noisy_mask
            )
        counts = trainer.strategy.reduce(counts, reduce_op="sum")
        values = {f"train/{name}": value for name, value in memorization_rates(counts).items()}
        self.results.update(values)
        log_synced(pl_module, values)  # reduced above, on every rank


@torch.no_grad()
def memorization_counts(
    model: nn.Module, loader: Iterable[Batch], true_targets: Tensor, noisy_mask: Tensor
) -> Tensor:
    """Counts ``[n_noisy, fit_noisy, true_noisy, n_clean, correct_clean]`` over ``loader``.

    ``loader`` yields ``(x, y_observed, index)`` of the training split; ``true_targets`` and
    ``noisy_mask`` are indexed by ``index``. The model is put in eval mode and restored.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    counts = torch.zeros(5, device=device)
    try:
        for x, y, index in loader:
            x, y = x.to(device), y.to(device)
            pred = model(x).argmax(1)
            noisy = noisy_mask[index].to(device)
            true = true_targets[index].to(device)
            counts += torch.stack(
                [
                    noisy.sum(),
                    ((pred == y) & noisy).sum(),
                    ((pred == true) & noisy).sum(),
                    (~noisy).sum(),
                    ((pred == y) & ~noisy).sum(),
                ]
            ).float()
    finally:
        model.train(was_training)
    return counts


def memorization_rates(counts: Tensor) -> dict[str, float]:
    """Turn :func:`memorization_counts` into the logged rates (noisy ones only if any)."""
    n_noisy, fit_noisy, true_noisy, n_clean, correct_clean = counts.tolist()
    rates = {}
    if n_noisy > 0:
        rates["acc_noisy"] = fit_noisy / n_noisy
        rates["true_acc_noisy"] = true_noisy / n_noisy
    if n_clean > 0:
        rates["acc_clean"] = correct_clean / n_clean
    return rates
