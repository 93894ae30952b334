"""The sanity checks of a :class:`~benign.callbacks.RobustnessEval` evaluation, run on its numbers.

A mixin of ``RobustnessEval``: it reads the evaluation's settings (``eps``, ``attack``,
``sanity_tolerance``, ``masking_eps``, ``strict``, ``max_samples``) and the sampled points the
evaluation left robust (``_kept``, ``_sample_n``); the checks themselves are in
:mod:`benign.callbacks.sanity`.
"""

from __future__ import annotations

import os
import warnings

import lightning as L
import torch
from torch import Tensor, nn

from benign.callbacks import sanity
from benign.callbacks.eval_grid import eps_key
from benign.callbacks.fault_tolerance import epoch_seed
from benign.data.loaders import eval_indices
from benign.distributed import log_synced


class EvalAudit:
    """``_check`` (all checks of one evaluation) and ``_check_stronger`` (the paired one)."""

    def _check(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        stage: str,
        dataset: torch.utils.data.Dataset,
        counts: Tensor,
        audit: sanity.GradientAudit,
    ) -> None:
        """Run the sanity checks on this evaluation's numbers; log, warn, and fail if strict."""
        n = counts[0].clamp_min(1).item()
        acc = [(c / n).item() for c in counts[1 : 1 + len(self.eps)]]
        clean_correct, zero, nonfinite, batches = trainer.strategy.reduce(
            audit.counts, reduce_op="sum"
        ).tolist()
        tol = self.sanity_tolerance
        report = sanity.SanityReport()
        sanity.check_monotone(report, self.eps, acc, tol)
        sanity.check_below_clean(report, self.eps, acc, clean_correct / n, tol)
        targets = dataset.targets[eval_indices(len(dataset), max_samples=self.max_samples)]
        chance = sanity.largest_class_share(torch.as_tensor(targets))
        sanity.check_masking(report, self.eps, acc, self.attack.norm, self.masking_eps, chance, tol)
        sanity.check_gradients(report, int(zero), int(nonfinite), int(batches))
        if stage == "test":  # the costlier check: once per run, on the final model
            self._check_stronger(trainer, pl_module, report)
        self.sanity_reports[stage] = report
        log_synced(pl_module, {**report.metrics(stage), **self._eps_verdicts(stage, report)})
        if report.ok:
            return
        message = f"{stage} robustness evaluation failed its sanity checks: {report.summary()}"
        if self.strict:
            raise sanity.SanityCheckError(f"{message} (set strict: false to only warn)")
        if trainer.is_global_zero:
            warnings.warn(message, sanity.RobustnessSanityWarning, stacklevel=2)

    def _eps_verdicts(self, stage: str, report: sanity.SanityReport) -> dict[str, float]:
        """The checks made at one eps, under that eps: ``{stage}/sanity_stronger_attack@0.2``
        and ``{stage}/sanity_masking@<largest eps>`` (1 passed, 0 flagged), so that a summary
        marks the robust accuracy of a flagged eps (:func:`benign.repro.tables.metric_table`)."""
        at = {"stronger_attack": self._sanity_eps(), "masking": self.eps[-1] if self.eps else None}
        return {
            f"{stage}/sanity_{check}@{eps_key(eps)}": float(report.passed[check])
            for check, eps in at.items()
            if check in report.passed and eps is not None
        }

    def _check_stronger(
        self, trainer: L.Trainer, model: nn.Module, report: sanity.SanityReport
    ) -> None:
        """The reference attack on the sampled points the evaluation left robust at the largest
        eps below ``masking_eps`` (paired: no new run of the evaluated attack)."""
        eps = self._sanity_eps()
        if self._sample is None or eps is None:
            return
        strong = sanity.reference_attack(eps, self.attack.norm)
        seed = epoch_seed(int(os.environ.get("PL_GLOBAL_SEED", 0)), 2**31 - 1) + 7
        with trainer.precision_plugin.forward_context():
            broken = sanity.reference_breaks(model, self._kept, strong, seed)
        robust = sum(len(y) for _, y, _ in self._kept)
        device = next(model.parameters()).device
        counts = torch.tensor([self._sample_n, robust, broken], device=device, dtype=torch.float)
        n, robust, broken = trainer.strategy.reduce(counts, reduce_op="sum").tolist()
        if n:
            sanity.check_stronger(
                report, eps, int(n), int(robust), int(broken), self.sanity_tolerance
            )
