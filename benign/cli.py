"""The ``benign`` command: LightningCLI's ``fit|validate|test|predict`` plus run directories.

``benign fit --config configs/digits/erm.yaml --data.noise_rate 0.2`` trains, writing
``runs/<dataset>-<method>-noise<rate>-seed<s>/`` (config, checkpoints, CSV log, noise manifest,
offline wandb run). Short names work for the data (``--data digits``) and methods
(``--model ERM``). A user error prints one line and exits with status 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import sys
from typing import Any

import yaml
from jsonargparse import set_parsing_settings
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import BasePredictionWriter, LambdaCallback, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from benign import preflight, quiet
from benign.callbacks import NoiseManifest, PredictionWriter, WandbRunArtifacts
from benign.callbacks.fault_tolerance import EpochSeed, PreemptionCheckpoint
from benign.cli_errors import (
    CHOICES,
    BenignArgumentParser,
    check_checkpoint_path,
    check_config_files,
    checkpoint_error,
    exit_with_user_error,
    is_user_error,
)
from benign.data import DATASETS, BenignDataModule
from benign.loggers import WANDB_MODES, build_loggers
from benign.methods import BenignModule
from benign.run_dir import RunLocation, default_run_name, new_run_name, run_dir_of_checkpoint
from benign.run_start import FitStart, mark_finished, record_resume, start_fit
from benign.slurm import launch_rank, requeue_if_requested

DEFAULT_SAVE_DIR = "runs"
#: Exit status of a run stopped by SIGTERM/SIGUSR1 after saving its checkpoint (128 + SIGTERM).
PREEMPTED_STATUS = 143
#: Commands beside LightningCLI's subcommands: name -> module with ``main(argv) -> int``.
EXTRA_COMMANDS = {"repro": "benign.repro.cli", "bench": "benign.bench.cli"}
EXTRA_HELP = {
    "repro": "reproduce an experiment of the paper (grid, results.csv, figure, summary)",
    "bench": "time training steps and the robustness evaluation",
}
quiet.install()
# Configs interpolate by absolute paths (``T_max: ${trainer.max_epochs}``), also readable alone;
# in ``omegaconf+`` mode (resolved after the command line) they are taken relative to the
# subcommand, so ``--trainer.max_epochs 2`` gives T_max 2.
set_parsing_settings(omegaconf_absolute_to_relative_paths=True)
CHOICES.update(data=", ".join(DATASETS), model="ERM, AdversarialTraining, TRADES")


class SaveRunConfig(SaveConfigCallback):
    """Write ``config.yaml`` into the run directory and send the same config to wandb.

    A resumed run keeps the ``config.yaml`` (and wandb config) it was started with."""

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        log_dir = trainer.log_dir  # collective: every rank asks
        config_path = os.path.join(log_dir or "", self.config_filename)
        # A fit finds a config.yaml only in a run it resumes (a new or restarted run has none).
        if stage == "fit" and os.path.isfile(config_path):
            return
        super().setup(trainer, pl_module, stage)

    def save_config(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        if loggers:
            config = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
            for logger in loggers:
                logger.experiment.config.update(config, allow_val_change=True)


class BenignCLI(LightningCLI):
    """LightningCLI with benign's data/method base classes, run directories and loggers."""

    def __init__(self, args: list[str] | None = None, run: bool = True, **kwargs: Any) -> None:
        self.run_location: RunLocation | None = None
        self.fit_start: FitStart | None = None
        self.created_run_dir: str | None = None
        self.resume_changes: dict[str, tuple[Any, Any]] | None = None
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        kwargs.setdefault("save_config_callback", SaveRunConfig)
        kwargs.setdefault("seed_everything_default", 0)
        try:
            self._init_and_run(args, run, **kwargs)
        except BaseException as error:
            self.remove_incomplete_run_dir()
            ckpt_path = self._ckpt_path()
            user_error = checkpoint_error(error, ckpt_path) if ckpt_path else None
            if user_error is not None:
                raise user_error from error
            raise

    def _ckpt_path(self) -> str | None:
        """The ``--ckpt_path`` of this invocation, once parsed."""
        config = getattr(self, "config", None)
        if config is None:
            return None
        subcommand = config.get("subcommand")
        return (config.get(subcommand) if subcommand else config).get("ckpt_path")

    def _init_and_run(self, args: list[str] | None, run: bool, **kwargs: Any) -> None:
        super().__init__(
            BenignModule,
            BenignDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            parser_kwargs={
                "parser_mode": "omegaconf+",
                "description": "benign: what makes neural networks adversarially vulnerable? "
                "Train and evaluate ERM, PGD adversarial training and TRADES (Lightning's fit, "
                "validate, test and predict), reproduce the paper and time the training steps.",
                "epilog": "more commands: "
                + "; ".join(f"benign {name}: {text}" for name, text in EXTRA_HELP.items())
                + ". Each command's options: benign <command> --help.",
            },
            parser_class=BenignArgumentParser,
            trainer_defaults={"default_root_dir": DEFAULT_SAVE_DIR},
            auto_configure_optimizers=False,
            args=args,
            run=run,
            **kwargs,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments(
            "data.num_classes", "model.init_args.num_classes", apply_on="instantiate"
        )
        parser.add_argument(
            "--run_name",
            type=str | None,
            default=None,
            help="Run directory name under trainer.default_root_dir (default: "
            "<dataset>-<method>-noise<rate>-seed<s>).",
        )
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=True,
            help="After fit, test the final weights (logs test/acc and test/robust_acc@<eps>).",
        )
        parser.add_argument(
            "--wandb.mode",
            type=str,
            default="auto",
            help=f"One of {WANDB_MODES}; auto = online when logged in.",
        )
        parser.add_argument("--wandb.project", type=str, default="benign", help="wandb project.")
        parser.add_argument(
            "--wandb.group",
            type=str | None,
            default=None,
            help="wandb group (e.g. the experiment).",
        )
        parser.add_argument("--wandb.tags", type=list[str] | None, default=None, help="wandb tags.")

    def before_instantiate_classes(self) -> None:
        config = self._get(self.config, "data")
        if config is not None and config.init_args.get("noise_seed") is None:
            # One seed fixes the run: the noisy labels follow seed_everything unless given.
            seed = self._get(self.config, "seed_everything")
            config.init_args.noise_seed = (
                seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
            )

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        location = self._resolve_run_location(trainer_config)
        self.run_location = location
        # Lightning keeps its own files (an HPC checkpoint, profiler output) in the run directory.
        kwargs["default_root_dir"] = location.path
        if trainer_config.get("logger") in (None, True):
            wandb = self._get(self.config, "wandb")
            kwargs["logger"] = build_loggers(
                location,
                wandb_mode=wandb.mode,
                project=wandb.project,
                group=wandb.group,
                tags=wandb.tags,
                job_type=self.subcommand or "fit",
                run_id=self.fit_start.record.get("wandb_id") if self.fit_start else None,
            )
        callbacks = list(trainer_config.get("callbacks") or [])
        if any(type(lg).__name__ == "WandbLogger" for lg in kwargs.get("logger") or []):
            callbacks.append(WandbRunArtifacts())
        # fast_dev_run writes nothing (Lightning would still save last.ckpt at train end).
        if self.subcommand == "fit" and not trainer_config.get("fast_dev_run"):
            self._add_run_callbacks(callbacks, location)
            if self.resume_changes is not None and launch_rank() == 0:
                # written once the checkpoint is restored: a resume that fails changes nothing
                changes = self.resume_changes
                callbacks.append(
                    LambdaCallback(on_train_start=lambda *_: record_resume(location.path, changes))
                )
        if self.subcommand == "predict" and not any(
            isinstance(cb, BasePredictionWriter) for cb in callbacks
        ):
            callbacks.append(PredictionWriter(output_dir=location.path))
        kwargs["callbacks"] = callbacks
        return super().instantiate_trainer(**kwargs)

    def after_fit(self) -> None:
        stopped = any(
            isinstance(cb, PreemptionCheckpoint) and cb.received is not None
            for cb in self.trainer.callbacks
        )
        if stopped:  # a stop signal arrived after the last batch: exit as a preempted run
            raise SIGTERMException
        if self.trainer.is_global_zero and self.run_location and not self.trainer.interrupted:
            mark_finished(self.run_location.path)
        if self._get(self.config, "test_after_fit") and not self.trainer.interrupted:
            self.trainer.test(self.model, datamodule=self.datamodule, verbose=True)

    # -- run directory -------------------------------------------------------------------------
    def _resolve_run_location(self, trainer_config: dict[str, Any]) -> RunLocation:
        save_dir = trainer_config.get("default_root_dir") or DEFAULT_SAVE_DIR
        subcommand_config = self.config.get(str(self.subcommand), self.config)
        ckpt_path = subcommand_config.get("ckpt_path")
        base_name = preflight.check_run_name(
            self._get(self.config, "run_name") or self._default_name()
        )
        if self.subcommand == "fit" and trainer_config.get("fast_dev_run"):
            # A smoke test of the whole loop: Lightning logs and checkpoints nothing; no run is made.
            return RunLocation(save_dir, base_name)
        # Everything a bad input can break is checked before the first file is written.
        if launch_rank() == 0:
            preflight.check_save_dir(save_dir)
            preflight.check_trainer_options(trainer_config)
            self.datamodule.build()
        if self.subcommand == "fit":
            start = self.fit_start = start_fit(save_dir, base_name, ckpt_path, self._check_start)
            if start.created:
                self.created_run_dir = start.location.path
            self.config_init[self.subcommand]["ckpt_path"] = start.ckpt_path
            return start.location
        if ckpt_path and ckpt_path not in preflight.CKPT_KEYWORDS and launch_rank() == 0:
            self._check_checkpoint(ckpt_path)
        # validate / test / predict log next to the checkpoint they evaluate when it is in a run
        run_dir = run_dir_of_checkpoint(ckpt_path) if ckpt_path and ckpt_path != "last" else None
        if run_dir is not None:
            location = RunLocation(
                os.path.dirname(run_dir), os.path.basename(run_dir), str(self.subcommand)
            )
        else:
            location = RunLocation(
                save_dir, new_run_name(save_dir, f"{base_name}-{self.subcommand}")
            )
        if not os.path.exists(location.path):
            self.created_run_dir = location.path
        return location

    def _check_checkpoint(self, ckpt_path: str) -> None:
        checkpoint = preflight.read_checkpoint(ckpt_path)
        preflight.check_checkpoint_fits(checkpoint, ckpt_path, self.model, self.datamodule)

    def _check_start(self, start: FitStart) -> None:
        """A fit's checkpoint must load into this model; a resume must not change the run."""
        recorded_path = os.path.join(start.location.path, "config.yaml")
        if start.resumed and os.path.isfile(recorded_path):
            with open(recorded_path) as handle:
                recorded = yaml.safe_load(handle) or {}
            parser = self._parser(self.subcommand)
            requested = yaml.safe_load(parser.dump(self.config[self.subcommand], skip_none=False))
            identity, other = preflight.changed_keys(recorded, requested)
            preflight.refuse_identity_change(start.location.path, identity)
            self.resume_changes = {k: v for k, v in other.items() if k != "ckpt_path"}
        if start.ckpt_path and start.ckpt_path not in preflight.CKPT_KEYWORDS:
            self._check_checkpoint(start.ckpt_path)

    def _default_name(self) -> str:
        datamodule, model = self.datamodule, self.model
        return default_run_name(
            dataset=getattr(datamodule, "name", type(datamodule).__name__.lower()),
            method=getattr(model, "method_name", type(model).__name__.lower()),
            noise_rate=getattr(datamodule, "noise_rate", 0.0),
            seed=self._get(self.config, "seed_everything"),
            label_level=getattr(datamodule, "label_level", "fine"),
        )

    @staticmethod
    def _add_run_callbacks(callbacks: list[Any], location: RunLocation) -> None:
        checkpoints = [cb for cb in callbacks if isinstance(cb, ModelCheckpoint)]
        for checkpoint in checkpoints:
            if checkpoint.dirpath is None:
                checkpoint.dirpath = location.checkpoint_dir
        if not checkpoints:
            callbacks.append(
                ModelCheckpoint(
                    dirpath=location.checkpoint_dir,
                    filename="best-epoch{epoch:03d}",
                    monitor="val/acc",
                    mode="max",
                    save_top_k=1,
                    auto_insert_metric_name=False,
                )
            )
            # Lightning's save_last refreshes last.ckpt only when a best checkpoint is saved; this
            # one writes the latest state every epoch (the final model; what --ckpt_path last resumes).
            callbacks.append(
                ModelCheckpoint(
                    dirpath=location.checkpoint_dir, filename="last", enable_version_counter=False
                )
            )
        if not any(isinstance(cb, NoiseManifest) for cb in callbacks):
            callbacks.append(NoiseManifest(dirpath=location.path))
        # Fault tolerance: exact resumes at epoch boundaries, a checkpoint on preemption.
        if not any(isinstance(cb, EpochSeed) for cb in callbacks):
            callbacks.append(EpochSeed())
        if not any(isinstance(cb, PreemptionCheckpoint) for cb in callbacks):
            callbacks.append(PreemptionCheckpoint(dirpath=location.checkpoint_dir))

    def remove_incomplete_run_dir(self) -> None:
        """After a failure, delete the run directory this invocation created if it holds no
        checkpoint: a run that never trained leaves nothing half-written behind."""
        path = self.created_run_dir
        if path is None or not os.path.isdir(path):
            return
        checkpoint_dir = os.path.join(path, "checkpoints")
        if os.path.isdir(checkpoint_dir) and os.listdir(checkpoint_dir):
            return
        shutil.rmtree(path, ignore_errors=True)


def expand_short_names(argv: list[str]) -> list[str]:
    """Rewrite ``--data digits`` / ``--data=digits`` into the DataModule's class path."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--data" and i + 1 < len(out) and out[i + 1] in DATASETS:
            out[i + 1] = DATASETS[out[i + 1]]
        elif arg.startswith("--data=") and arg.split("=", 1)[1] in DATASETS:
            out[i] = "--data=" + DATASETS[arg.split("=", 1)[1]]
    return out


def add_run_config(argv: list[str]) -> list[str]:
    """``benign test --ckpt_path runs/X/checkpoints/last.ckpt`` with no ``--config``: use the
    run's own ``config.yaml`` (the data module and callbacks it was trained with)."""
    if not argv or argv[0] not in ("validate", "test", "predict"):
        return argv
    if any(a in ("-c", "--config") or a.startswith("--config=") for a in argv):
        return argv
    ckpt_path = None
    for i, arg in enumerate(argv):
        if arg == "--ckpt_path" and i + 1 < len(argv):
            ckpt_path = argv[i + 1]
        elif arg.startswith("--ckpt_path="):
            ckpt_path = arg.split("=", 1)[1]
    run_dir = run_dir_of_checkpoint(ckpt_path) if ckpt_path else None
    if run_dir is None:
        return argv
    return [argv[0], "--config", os.path.join(run_dir, "config.yaml"), *argv[1:]]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``benign`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if argv and argv[0] in EXTRA_COMMANDS:
        module = importlib.import_module(EXTRA_COMMANDS[argv[0]])
        try:
            raise SystemExit(module.main([a for a in argv[1:] if a != "--debug"]))
        except Exception as error:
            if debug or not is_user_error(error):
                raise
            exit_with_user_error(error)
    argv = add_run_config(expand_short_names([a for a in argv if a != "--debug"]))
    # LightningCLI reads sys.argv itself; DDP's launcher re-runs it in the other processes.
    sys.argv = sys.argv[:1] + argv
    _show_info_lines()
    try:
        check_config_files(argv)
        check_checkpoint_path(argv)
        BenignCLI()
    except SIGTERMException:
        # Preempted (SIGTERM/SIGUSR1): the state is in last.ckpt, but the run did not finish.
        _close_wandb()
        requeue_if_requested()  # SIGUSR1 under SLURM: the job comes back and resumes its run
        raise SystemExit(PREEMPTED_STATUS) from None
    except Exception as error:
        if debug or not is_user_error(error):
            raise
        exit_with_user_error(error)


def _close_wandb() -> None:
    """Finish the wandb run now (it would at exit), before SLURM stops a requeued job."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=PREEMPTED_STATUS)


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the message, not at creation: a
    program that calls :func:`main` more than once (or pytest) may have replaced it since."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _show_info_lines() -> None:
    """Print benign's INFO messages (e.g. the realised noise rate) on stderr, once."""
    logger = logging.getLogger("benign")
    if not any(isinstance(h, _CurrentStderrHandler) for h in logger.handlers):
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("benign: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    # The seed is in the run name and config.yaml; its log line would precede every error.
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)


if __name__ == "__main__":
    main()
