"""Robust accuracy over a list of epsilons, with any attack chosen in config."""

from __future__ import annotations

import contextlib
import math

import lightning as L
import torch
from jsonargparse import lazy_instance
from torch import Tensor, nn

from benign.attacks import PGD, Attack
from benign.callbacks.coarse import CoarseLogits
from benign.data.loaders import eval_loader
from benign.errors import ConfigError


def eps_key(eps: float) -> str:
    """The ``@<eps>`` suffix of a metric name: ``robust_acc@0.1``, ``robust_acc@0.03137``."""
    return f"{eps:.4g}"


class RobustnessEval(L.Callback):
    """Score clean and robust accuracy on the held-out split for every ``eps`` in a list.

    At the end of validation (every ``every_n_epochs`` epochs) and at test it attacks the
    validation / test split (optionally a fixed subset of ``max_samples`` points) with
    ``attack.with_eps(eps)`` and logs ``val|test/robust_acc@<eps>``. With
    ``score_coarse=True`` a model trained on fine labels is also scored on the coarse task
    (PAPER.md E3): the coarse logit of a superclass is the logsumexp of its fine logits, the
    attack targets that coarse decision, and ``coarse_acc`` / ``coarse_robust_acc@<eps>`` are
    logged. Every point is counted exactly once across DDP ranks.

    Args:
        attack: the evaluation attack (``class_path`` + ``init_args``); its own ``eps`` is
            replaced by each value of ``eps``.
        eps: the radii, in pixel units of inputs in [0, 1]; sorted, non-negative.
        every_n_epochs: evaluate on validation every n epochs (test always runs).
        max_samples: score a fixed subset of this many points (``None``: all of them).
        on_validation: evaluate at the end of validation epochs.
        on_test: evaluate at test.
        score_coarse: also log the coarse-task metrics of a fine-label model.
        batch_size: evaluation batch size (``None``: the data module's).
    """

    def __init__(
        self,
        attack: Attack = lazy_instance(PGD, eps=0.1, steps=20),
        eps: list[float] = [0.0, 0.05, 0.1, 0.2],  # noqa: B006 - jsonargparse needs a literal
        every_n_epochs: int = 1,
        max_samples: int | None = None,
        on_validation: bool = True,
        on_test: bool = True,
        score_coarse: bool = False,
        batch_size: int | None = None,
    ) -> None:
        self.eps = validate_eps_list(eps)
        if every_n_epochs < 1:
            raise ConfigError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        if max_samples is not None and max_samples < 1:
            raise ConfigError(f"max_samples must be >= 1 or null, got {max_samples}")
        self.attack = attack
        self.every_n_epochs = every_n_epochs
        self.max_samples = max_samples
        self.on_validation = on_validation
        self.on_test = on_test
        self.score_coarse = score_coarse
        self.batch_size = batch_size
        #: The last results per stage, ``{"val/robust_acc@0.1": 0.83, ...}``.
        self.results: dict[str, float] = {}

    # -- hooks -----------------------------------------------------------------------------
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.on_validation or trainer.sanity_checking:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs != 0 and not _is_last_epoch(trainer):
            return
        self._run(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.on_test:
            self._run(trainer, pl_module, "test")

    # -- evaluation ------------------------------------------------------------------------
    def _run(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        datamodule = trainer.datamodule
        dataset = datamodule.val_dataset if stage == "val" else datamodule.test_dataset
        loader = eval_loader(
            dataset,
            self.batch_size or datamodule.eval_batch_size,
            rank=trainer.global_rank,
            world_size=trainer.world_size,
            max_samples=self.max_samples,
        )
        coarse_map = None
        if self.score_coarse:
            coarse_map = datamodule.coarse_map if datamodule.label_level == "fine" else None
        counts = self.count_correct(pl_module, loader, coarse_map, trainer)
        counts = trainer.strategy.reduce(counts, reduce_op="sum")
        total = counts[0].clamp_min(1)
        names = self._metric_names(coarse=self.score_coarse)
        values = {f"{stage}/{name}": (correct / total).item() for name, correct in zip(names, counts[1:])}
        self.results.update(values)
        # Already reduced over ranks; sync_dist only averages identical values (and keeps
        # Lightning from warning that epoch-level metrics are not synced).
        pl_module.log_dict(values, sync_dist=True)

    def _metric_names(self, coarse: bool) -> list[str]:
        names = ["robust_acc@" + eps_key(e) for e in self.eps]
        if coarse:
            names += ["coarse_acc"] + ["coarse_robust_acc@" + eps_key(e) for e in self.eps]
        return names

    @torch.inference_mode(False)
    def count_correct(
        self,
        model: nn.Module,
        loader: torch.utils.data.DataLoader,
        coarse_map: Tensor | None,
        trainer: L.Trainer | None = None,
    ) -> Tensor:
        """Return ``[n, robust@eps..., (coarse_clean, coarse_robust@eps...)]`` on this rank.

        The coarse part is present when ``self.score_coarse``: scored through
        :class:`CoarseLogits` when ``coarse_map`` is given, else the labels are coarse already.
        """
        device = next(model.parameters()).device
        attacks = [self.attack.with_eps(e) for e in self.eps]
        context = trainer.precision_plugin.forward_context if trainer else contextlib.nullcontext
        coarse_model = model
        if coarse_map is not None:
            coarse_map = coarse_map.to(device)
            coarse_model = CoarseLogits(model, coarse_map)
        totals: Tensor | None = None
        for x, y, _ in loader:
            x, y = x.to(device), y.to(device)
            with context():
                row = [torch.tensor(y.numel(), device=device)]
                row += [_correct(model, attack(model, x, y), y) for attack in attacks]
                if self.score_coarse:
                    y_coarse = coarse_map[y] if coarse_map is not None else y
                    row.append(_correct(coarse_model, x, y_coarse))
                    row += [
                        _correct(coarse_model, attack(coarse_model, x, y_coarse), y_coarse)
                        for attack in attacks
                    ]
            batch_counts = torch.stack(row).float()
            totals = batch_counts if totals is None else totals + batch_counts
        if totals is None:  # an empty shard (more ranks than points)
            width = 1 + len(self.eps) + (1 + len(self.eps)) * self.score_coarse
            totals = torch.zeros(width, device=device)
        return totals


def _correct(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    with torch.no_grad():
        return (model(x).argmax(1) == y).sum()


def validate_eps_list(eps: list[float]) -> list[float]:
    """Check an eps list: non-empty, finite, non-negative, strictly increasing."""
    if not eps:
        raise ConfigError("eps list is empty: give at least one radius, e.g. eps: [0.0, 0.1]")
    values = [float(e) for e in eps]
    if any(not math.isfinite(e) or e < 0 for e in values):
        raise ConfigError(f"eps must be finite and >= 0, got {values}: use radii such as [0, 0.1]")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ConfigError(f"eps must be strictly increasing, got {values}: sort them, e.g. {sorted(set(values))}")
    return values


def _is_last_epoch(trainer: L.Trainer) -> bool:
    return trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs
