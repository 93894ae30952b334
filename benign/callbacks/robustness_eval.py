"""Robust accuracy over a list of epsilons, with any attack chosen in config."""

from __future__ import annotations

import contextlib
import os

import lightning as L
import torch
from jsonargparse import lazy_instance
from torch import Tensor, nn

from benign.attacks import PGD, APGDEnsemble, Attack, per_example_randomness
from benign.callbacks import sanity
from benign.callbacks.coarse import CoarseLogits
from benign.callbacks.eval_audit import EvalAudit
from benign.callbacks.eval_grid import (
    correct_count,
    describe,
    empty_stats,
    eps_key,
    is_last_epoch,
    materialised,
    robust_grid,
    training_eps,
    validate_eps_list,
)
from benign.callbacks.fault_tolerance import epoch_seed
from benign.callbacks.progress import pass_progress
from benign.data.loaders import eval_indices, eval_loader
from benign.distributed import log_synced
from benign.errors import ConfigError

#: Stream of :func:`epoch_seed` that seeds every robustness evaluation (not an epoch number).
EVAL_STREAM = 2**31 - 1


class RobustnessEval(EvalAudit, L.Callback):
    """Score clean and robust accuracy on the held-out split for every ``eps`` in a list.

    At the end of validation (every ``every_n_epochs`` epochs) and at test it attacks the
    validation / test split (optionally a fixed subset of ``max_samples`` points) with
    ``attack.with_eps(eps)`` (``val_attack`` during validation) and logs
    ``val|test/robust_acc@<eps>``. A point counts robust only if it is clean-correct and the
    attack fails on it; with ``nested`` (default) the attack at each eps runs only on the points
    still robust at the previous one, since a point broken inside a smaller ball is broken inside
    every larger one (:mod:`benign.callbacks.eval_grid`). What ran and what each attack broke is
    kept in ``attack_reports[stage]`` and sent to the loggers as the hyper-parameter
    ``<stage>/robust_attack``.

    The default test attack, :class:`~benign.attacks.APGDEnsemble` (APGD-CE, then APGD-DLR on
    the points it left, 20 steps each), and above the training eps of an AT/TRADES model
    ``strong_attack`` (plus APGD-T over 9 targets, 50 steps each), are within 1 point of full
    AutoAttack on the models of ``configs/digits`` at every eps, cheaper than PGD-20. With
    ``score_coarse=True`` a model trained on fine labels is also scored on the coarse task
    (PAPER.md E3): the coarse logit of a superclass is the logsumexp of its fine logits, the
    attack targets that coarse decision, and ``coarse_acc`` / ``coarse_robust_acc@<eps>`` are
    logged. Every point is counted exactly once across DDP ranks; a progress bar shows the pass.

    Each evaluation audits itself (:mod:`benign.callbacks.sanity`, after Carlini et al. 2019):
    robust accuracy non-increasing in eps and below clean accuracy, at chance for linf eps >=
    ``masking_eps``, input gradients neither zero nor non-finite, and (at test) unchanged by a
    much stronger attack on ``sanity_samples`` points (:func:`~benign.callbacks.sanity.reference_attack`).
    Results are logged as ``<stage>/sanity_ok`` and ``<stage>/sanity_<check>`` (1 passed, 0
    failed), failures are warned about, and with ``strict=True`` stop the run (``SanityCheckError``).

    Args:
        attack: the test attack (``class_path`` + ``init_args``); its own ``eps`` is replaced
            by each value of ``eps``.
        val_attack: the (cheaper) validation attack; ``None`` uses ``attack``.
        strong_attack: the test attack at radii above the training eps of an adversarially
            trained model (its ``attack.eps``), where a weak attack overstates robustness most;
            ``None`` uses ``attack`` there too.
        eps: the radii, in pixel units of inputs in [0, 1]; sorted, non-negative.
        every_n_epochs: evaluate on validation every n epochs (test always runs).
        max_samples: score a fixed subset of this many points (``None``: all of them).
        on_validation: evaluate at the end of validation epochs.
        on_test: evaluate at test.
        score_coarse: also log the coarse-task metrics of a fine-label model.
        batch_size: evaluation batch size (``None``: the data module's).
        sanity: run the sanity checks.
        strict: fail the run when a sanity check fails (else warn).
        nested: attack each eps only on the points robust at the previous one.
        sanity_samples: points of the stronger-attack check at test (0 skips that check).
        masking_eps: linf radius from which robust accuracy must be at chance level.
        sanity_tolerance: slack of the checks, in accuracy (0.02 = two percentage points).
    """

    def __init__(
        self,
        attack: Attack = lazy_instance(APGDEnsemble, eps=0.1),  # noqa: B008 - a config default
        val_attack: Attack | None = lazy_instance(PGD, eps=0.1, steps=20),  # noqa: B008
        strong_attack: Attack | None = lazy_instance(APGDEnsemble, eps=0.1, steps=50, targets=9),  # noqa: B008
        eps: list[float] = [0.0, 0.05, 0.1, 0.2],  # noqa: B006 - jsonargparse needs a literal
        every_n_epochs: int = 1,
        max_samples: int | None = None,
        on_validation: bool = True,
        on_test: bool = True,
        score_coarse: bool = False,
        batch_size: int | None = None,
        sanity: bool = True,
        strict: bool = False,
        nested: bool = True,
        sanity_samples: int = 200,
        masking_eps: float = 0.5,
        sanity_tolerance: float = 0.02,
    ) -> None:
        self.eps = validate_eps_list(eps)
        if every_n_epochs < 1:
            raise ConfigError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        if max_samples is not None and max_samples < 1:
            raise ConfigError(f"max_samples must be >= 1 or null, got {max_samples}")
        self.attack = materialised(attack)
        self.val_attack = None if val_attack is None else materialised(val_attack)
        self.strong_attack = None if strong_attack is None else materialised(strong_attack)
        self.nested = nested
        self.every_n_epochs = every_n_epochs
        self.max_samples = max_samples
        self.on_validation, self.on_test = on_validation, on_test
        self.score_coarse = score_coarse
        self.batch_size = batch_size
        if sanity_samples < 0:
            raise ConfigError(
                f"sanity_samples must be >= 0, got {sanity_samples}: use 0 to skip the stronger-attack check"
            )
        if not masking_eps > 0:
            raise ConfigError(f"masking_eps must be > 0, got {masking_eps}: use e.g. 0.5 (linf)")
        if not 0 <= sanity_tolerance < 1:
            raise ConfigError(
                f"sanity_tolerance must be in [0, 1), got {sanity_tolerance}: use e.g. 0.02"
            )
        self.sanity = sanity
        self.strict = strict
        self.sanity_samples = sanity_samples
        self.masking_eps = masking_eps
        self.sanity_tolerance = sanity_tolerance
        #: The last results per stage, ``{"val/robust_acc@0.1": 0.83, ...}``.
        self.results: dict[str, float] = {}
        #: The last sanity-check outcome per stage, ``{"val": SanityReport, ...}``.
        self.sanity_reports: dict[str, sanity.SanityReport] = {}
        #: What ran at each eps and what each attack broke, per stage (see :func:`describe`).
        self.attack_reports: dict[str, str] = {}
        self._stage = "test"
        self._grid: list[Attack] = []
        self._sample: set[int] | None = None
        self._sample_n = 0
        self._kept: list[tuple[Tensor, Tensor, Tensor]] = []

    def attack_for(self, stage: str) -> Attack:
        """The attack of a stage: ``val_attack`` during validation (when set), else ``attack``."""
        return self.val_attack if stage == "val" and self.val_attack is not None else self.attack

    def grid_attacks(self, stage: str, model: nn.Module) -> list[Attack]:
        """One attack per eps: at test, ``strong_attack`` above the model's training eps."""
        base, strong = self.attack_for(stage), self.strong_attack
        train_eps = training_eps(model)
        if stage != "test" or strong is None or train_eps is None:
            return [base.with_eps(e) for e in self.eps]
        return [(strong if e > train_eps * (1 + 1e-6) else base).with_eps(e) for e in self.eps]

    # -- hooks -----------------------------------------------------------------------------
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.on_validation or trainer.sanity_checking:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs != 0 and not is_last_epoch(trainer):
            return
        self._run(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.on_test:
            self._run(trainer, pl_module, "test")

    # -- evaluation ------------------------------------------------------------------------
    def _run(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # The attacks' random starts come from a generator seeded for this evaluation alone: the
        # numbers are a function of the weights and the data (``benign test`` of a checkpoint
        # equals the test after fit, whatever the strategy reseeded), and the training stream is
        # left where it was.
        device = next(pl_module.parameters()).device
        cuda = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(epoch_seed(int(os.environ.get("PL_GLOBAL_SEED", 0)), EVAL_STREAM))
            self._evaluate(trainer, pl_module, stage)

    def _evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
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
        device = next(pl_module.parameters()).device
        attack = self.attack_for(stage)
        audit = sanity.GradientAudit(getattr(attack, "loss", "ce"), device) if self.sanity else None
        self._stage = stage
        self._sample = self._sanity_sample(dataset) if stage == "test" and audit else None
        counts = self.count_correct(pl_module, loader, coarse_map, trainer, audit)
        counts = trainer.strategy.reduce(counts, reduce_op="sum")
        stats = trainer.strategy.reduce(self._stats, reduce_op="sum")
        total = counts[0].clamp_min(1)
        names = self._metric_names(coarse=self.score_coarse)
        values = {
            f"{stage}/{name}": (correct / total).item()
            for name, correct in zip(names, counts[1:], strict=False)
        }
        self.results.update(values)
        log_synced(pl_module, values)  # reduced above, on every rank
        self._report(trainer, stage, stats)
        if audit is not None:
            self._check(trainer, pl_module, stage, dataset, counts, audit)

    def _report(self, trainer: L.Trainer, stage: str, stats: Tensor) -> None:
        """Keep and send to the loggers what ran at each eps and what it broke."""
        report = describe(self.eps, self._grid, stats, self.nested)
        self.attack_reports[stage] = report
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_hyperparams({f"{stage}/robust_attack": report})

    def _metric_names(self, coarse: bool) -> list[str]:
        names = ["robust_acc@" + eps_key(e) for e in self.eps]
        if coarse:
            names += ["coarse_acc"] + ["coarse_robust_acc@" + eps_key(e) for e in self.eps]
        return names

    def _sanity_eps(self) -> float | None:
        """The eps of the stronger-attack check: the largest one in ``(0, masking_eps)``."""
        candidates = [e for e in self.eps if 0 < e < self.masking_eps]
        return candidates[-1] if candidates else None

    def _sanity_sample(self, dataset: torch.utils.data.Dataset) -> set[int] | None:
        """The dataset positions of the stronger-attack check (a fixed subset of the scored)."""
        if not self.sanity_samples or self._sanity_eps() is None:
            return None
        samples = min(self.sanity_samples, self.max_samples or self.sanity_samples)
        return set(eval_indices(len(dataset), max_samples=samples).tolist())

    @torch.inference_mode(False)
    def count_correct(
        self,
        model: nn.Module,
        loader: torch.utils.data.DataLoader,
        coarse_map: Tensor | None,
        trainer: L.Trainer | None = None,
        audit: sanity.GradientAudit | None = None,
    ) -> Tensor:
        """Return ``[n, robust@eps..., (coarse_clean, coarse_robust@eps...)]`` on this rank.

        The coarse part is present when ``self.score_coarse``: scored through
        :class:`CoarseLogits` when ``coarse_map`` is given, else the labels are coarse already.
        ``audit`` (optional) also sees every batch (clean accuracy and input gradients). Leaves
        the attacks' counts in ``self._stats`` and, for the stronger-attack check, the sampled
        points robust at its eps in ``self._kept``.
        """
        device = next(model.parameters()).device
        attacks = self.grid_attacks(self._stage, model)
        self._grid = attacks
        context = trainer.precision_plugin.forward_context if trainer else contextlib.nullcontext
        coarse_model = model
        if coarse_map is not None:
            coarse_map = coarse_map.to(device)
            coarse_model = CoarseLogits(model, coarse_map)
        totals: Tensor | None = None
        self._stats, self._kept, self._sample_n = None, [], 0
        sample, at = self._sample, self._sanity_eps()
        base = epoch_seed(int(os.environ.get("PL_GLOBAL_SEED", 0)), EVAL_STREAM)
        batches = pass_progress(trainer, loader, f"{self._stage} robustness @ {len(self.eps)} eps")
        for x, y, index in batches:
            x, y = x.to(device), y.to(device)
            # each point's random starts depend on the point, not on its batch or rank
            with context(), per_example_randomness(index + base):
                if audit is not None:
                    audit.update(model, x, y)
                masks, stats = robust_grid(model, attacks, x, y, self.nested)
                row = [torch.tensor(y.numel(), device=device)] + [m.sum() for m in masks]
                if self.score_coarse:
                    y_coarse = coarse_map[y] if coarse_map is not None else y
                    coarse, _ = robust_grid(coarse_model, attacks, x, y_coarse, self.nested)
                    row.append(correct_count(coarse_model, x, y_coarse))
                    row += [m.sum() for m in coarse]
            if sample is not None:
                sampled = torch.tensor([int(i) in sample for i in index], dtype=torch.bool)
                self._sample_n += int(sampled.sum())
                keep = (masks[self.eps.index(at)].cpu() & sampled).to(device)
                self._kept.append((x[keep], y[keep], index[keep.cpu()]))
            batch_counts = torch.stack(row).float()
            totals = batch_counts if totals is None else totals + batch_counts
            self._stats = stats if self._stats is None else self._stats + stats
        if totals is None:  # an empty shard (more ranks than points)
            width = 1 + len(self.eps) + (1 + len(self.eps)) * self.score_coarse
            totals = torch.zeros(width, device=device)
        if self._stats is None:
            self._stats = empty_stats(attacks, device)
        return totals
