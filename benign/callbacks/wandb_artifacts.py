"""Send what a run produced to wandb: config, noise manifest, best checkpoint, robustness curve."""

from __future__ import annotations

import os

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger

from benign.callbacks.robustness_eval import RobustnessEval, eps_key


def _wandb_logger(trainer: L.Trainer) -> WandbLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)


def _artifact_name(run_name: str, kind: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in run_name)
    return f"{safe}-{kind}"


class WandbRunArtifacts(L.Callback):
    """Log the run directory's artefacts to the wandb run (offline runs keep them for sync).

    - at fit start: ``config.yaml`` (type ``config``) and ``noise.npz`` (type ``noise-manifest``);
    - at fit end, offline: the best checkpoint (type ``model``; online, ``WandbLogger``'s
      ``log_model`` uploads the checkpoints);
    - at test end: the robust-accuracy-vs-eps line plot of :class:`RobustnessEval`
      (``test/robust_acc_vs_eps``).

    Does nothing when no :class:`WandbLogger` is attached; runs on global rank zero only.
    """

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        run_dir = trainer.log_dir  # collective
        logger = _wandb_logger(trainer)
        if logger is None or not trainer.is_global_zero or run_dir is None:
            return
        for filename, kind in (("config.yaml", "config"), ("noise.npz", "noise-manifest")):
            path = os.path.join(run_dir, filename)
            if os.path.isfile(path):
                self._log_file(logger, path, kind)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logger = _wandb_logger(trainer)
        if logger is not None and not logger._offline:  # log_model: Lightning uploads it
            return
        checkpoint = next((cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint)), None)
        if logger is None or not trainer.is_global_zero or checkpoint is None:
            return
        best = checkpoint.best_model_path or checkpoint.last_model_path
        if best and os.path.isfile(best):
            self._log_file(logger, best, "model", aliases=["best", "latest"])

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logger = _wandb_logger(trainer)
        evaluators = [cb for cb in trainer.callbacks if isinstance(cb, RobustnessEval)]
        if logger is None or not trainer.is_global_zero or not evaluators:
            return
        import wandb

        rows = [
            [eps, evaluators[0].results[key]]
            for eps in evaluators[0].eps
            if (key := f"test/robust_acc@{eps_key(eps)}") in evaluators[0].results
        ]
        if rows:
            table = wandb.Table(data=rows, columns=["eps", "robust_acc"])
            plot = wandb.plot.line(table, "eps", "robust_acc", title="test robust accuracy vs eps")
            logger.experiment.log({"test/robust_acc_vs_eps": plot})

    @staticmethod
    def _log_file(
        logger: WandbLogger, path: str, kind: str, aliases: list[str] | None = None
    ) -> None:
        import wandb

        artifact = wandb.Artifact(_artifact_name(logger.experiment.name or "run", kind), type=kind)
        artifact.add_file(path)
        logger.experiment.log_artifact(artifact, aliases=aliases)
