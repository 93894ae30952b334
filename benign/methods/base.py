"""The shared LightningModule of every training method.

A method owns one backbone (built from config with the data's number of classes), an optimiser
and an optional LR schedule from config, and torchmetrics accuracy/loss per stage. Subclasses
only say how a training loss is computed from a batch (:meth:`BenignModule.training_loss`):
ERM on clean inputs, Madry's adversarial training on PGD inputs, TRADES on both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from benign.distributed import log_synced
from benign.errors import ConfigError
from benign.models.base import Backbone

#: A backbone as declared in YAML (``class_path`` + ``init_args``, or a short name such as
#: ``DigitsCNN``), called with ``num_classes``: a :class:`benign.models.Backbone`, so that
#: ``--model.help`` lists this project's backbones and probes find ``forward_features``.
BackboneFactory = Callable[[int], Backbone]

Batch = tuple[Tensor, Tensor, Tensor]


def default_optimizer(params: Any) -> torch.optim.Optimizer:
    """SGD with momentum, the optimiser of the paper's memorisation experiments (PAPER.md)."""
    return torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)


class BenignModule(L.LightningModule):
    """Base of ``ERM``, ``AdversarialTraining`` and ``TRADES``.

    Args:
        backbone: the network, a :class:`benign.models.Backbone` by class path or short name
            (``PreActResNet18``, ``DigitsCNN``); called with ``num_classes``, it maps inputs in
            [0, 1] to logits.
        num_classes: number of output classes; the CLI links it from ``data.num_classes``.
        optimizer: optimiser factory (``class_path`` of a ``torch.optim`` class); default SGD
            lr 0.05, momentum 0.9, weight decay 5e-4.
        lr_scheduler: optional LR-scheduler factory, stepped once per epoch.
        channels_last: train and attack in ``torch.channels_last`` memory format.
        compile: wrap the backbone with ``torch.compile``.
    """

    #: Short tag used in run names (``<dataset>-<method>-noise<rate>-seed<s>``).
    method_name: ClassVar[str] = "base"

    def __init__(
        self,
        backbone: BackboneFactory,
        num_classes: int = 10,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        if type(self) is BenignModule:
            raise ConfigError(
                "no training method: set --model erm|at|trades (a configs/<dataset>/base.yaml is "
                "a shared layer; run configs/<dataset>/erm.yaml, at.yaml or trades.yaml)"
            )
        if num_classes < 2:
            raise ConfigError(
                f"num_classes must be >= 2, got {num_classes}: it is linked from the data module"
            )
        self.save_hyperparameters()
        self.num_classes = num_classes
        self.backbone = backbone(num_classes)
        self.channels_last = channels_last
        if channels_last:
            self.backbone = self.backbone.to(memory_format=torch.channels_last)
        self._forward_backbone: nn.Module = (
            torch.compile(self.backbone) if compile else self.backbone  # type: ignore[assignment]
        )
        self.optimizer_factory = optimizer or default_optimizer
        self.lr_scheduler_factory = lr_scheduler
        self.metrics = nn.ModuleDict(
            {
                f"{stage}_{name}": metric
                for stage in ("train", "val", "test")
                for name, metric in (
                    # No per-step input validation: it syncs with the device every step, and a
                    # bad label already fails in the cross-entropy. NaN losses stay visible.
                    ("acc", MulticlassAccuracy(num_classes, average="micro", validate_args=False)),
                    ("loss", MeanMetric(nan_strategy="disable")),
                )
            }
        )

    # -- forward ---------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """Logits of inputs in [0, 1] (the backbone normalises inside)."""
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self._forward_backbone(x)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate representation (``backbone.forward_features``), for probes."""
        return self.backbone.forward_features(x)

    # -- training ----------------------------------------------------------------------------
    def training_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(loss, logits)`` for a training batch; ``logits`` feed ``train/acc``."""
        raise NotImplementedError

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        x, y, _ = batch
        loss, logits = self.training_loss(x, y)
        self._update_metrics("train", loss, logits, y)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate("val", batch)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate("test", batch)

    def predict_step(self, batch: Batch, batch_idx: int) -> dict[str, Tensor]:
        x, y, index = batch
        logits = self(x)
        return {"index": index, "target": y, "logits": logits, "pred": logits.argmax(1)}

    def _evaluate(self, stage: str, batch: Batch) -> None:
        x, y, _ = batch
        logits = self(x)
        loss = nn.functional.cross_entropy(logits, y)
        self._update_metrics(stage, loss, logits, y)

    def _update_metrics(self, stage: str, loss: Tensor, logits: Tensor, y: Tensor) -> None:
        # Only accumulate here: no host sync, no per-step logging (``self.log`` of a metric costs
        # milliseconds per call, a large share of a small model's step). Logged at epoch end.
        self.metrics[f"{stage}_acc"].update(logits.detach(), y)
        # The batch mean repeated once per example = the example-weighted mean over the epoch.
        self.metrics[f"{stage}_loss"].update(loss.detach().float().expand(y.numel()))

    def _log_metrics(self, stage: str) -> None:
        # Epoch-level only, so the keys stay exactly ``train/acc`` (no ``_step``/``_epoch`` suffix).
        # The metric objects are computed here (torchmetrics syncs them over DDP ranks inside
        # ``compute``), in this hook, on every rank; the logged values are plain tensors. Logging
        # the objects would leave the sync to whichever callback reads the metrics first, and that
        # differs between ranks (the progress bar reads them on rank zero only): a DDP hang.
        acc, mean_loss = self.metrics[f"{stage}_acc"], self.metrics[f"{stage}_loss"]
        if not acc.update_called:
            return
        values = {f"{stage}/acc": acc.compute(), f"{stage}/loss": mean_loss.compute()}
        acc.reset()
        mean_loss.reset()
        log_synced(self, {f"{stage}/acc": values[f"{stage}/acc"]}, prog_bar=True)
        log_synced(self, {f"{stage}/loss": values[f"{stage}/loss"]}, prog_bar=stage == "train")

    def on_train_epoch_end(self) -> None:
        self._log_metrics("train")

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    # -- checkpoints --------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The running training metrics of a checkpoint written part-way through an epoch, so a
        # resumed epoch logs the train/acc and train/loss of the uninterrupted one (per DDP rank).
        states = {}
        for name in ("train_acc", "train_loss"):
            metric = self.metrics[name]
            states[name] = {
                key: self._gathered(value) for key, value in metric.metric_state.items()
            }
            states[name]["_update_count"] = metric._update_count
        checkpoint["benign_epoch_metrics"] = states

    def _gathered(self, value: Tensor) -> Tensor:
        if self._trainer is None or self.trainer.world_size == 1:
            return value.detach().clone()[None]
        return self.all_gather(value.detach())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rank = self.trainer.global_rank if self._trainer is not None else 0
        for name, state in checkpoint.get("benign_epoch_metrics", {}).items():
            metric = self.metrics[name]
            for key, value in state.items():
                if key == "_update_count":
                    metric._update_count = int(value)
                elif hasattr(metric, key) and rank < len(value):
                    setattr(metric, key, value[rank].to(getattr(metric, key).device))

    # -- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.lr_scheduler_factory is None:
            return optimizer
        scheduler = self.lr_scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }
