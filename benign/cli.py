"""The ``benign`` command: LightningCLI's ``fit|validate|test|predict`` plus run directories.

``benign fit --config configs/digits/erm.yaml --data.noise_rate 0.2`` trains, writing
``runs/<dataset>-<method>-noise<rate>-seed<s>/`` (config, checkpoints, CSV log, noise manifest,
offline wandb run). Short names work (``--data digits``, ``--model ERM``). A user error prints
one line and exits with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import yaml
from jsonargparse import set_parsing_settings
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import BasePredictionWriter, LambdaCallback
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from benign import preflight, quiet
from benign.callbacks import PredictionWriter, WandbRunArtifacts
from benign.callbacks.fault_tolerance import PreemptionCheckpoint
from benign.callbacks.run_config import SaveRunConfig
from benign.cli_args import add_run_config, expand_short_names
from benign.cli_errors import (
    BenignArgumentParser,
    check_checkpoint_path,
    check_config_files,
    checkpoint_error,
    exit_with_user_error,
    is_user_error,
)
from benign.console import close_wandb, show_info_lines
from benign.data import BenignDataModule
from benign.loggers import WANDB_MODES, build_loggers
from benign.methods import BenignModule
from benign.run_callbacks import add_run_callbacks, remove_incomplete_run_dir
from benign.run_dir import RunLocation, new_run_name, run_dir_of_checkpoint, run_name_of
from benign.run_start import FitStart, mark_finished, record_resume, start_fit
from benign.slurm import launch_rank, requeue_if_requested

DEFAULT_SAVE_DIR = "runs"
#: Exit status of a run stopped by SIGTERM/SIGUSR1 after saving its checkpoint (128 + SIGTERM).
PREEMPTED_STATUS = 143
#: Commands beside LightningCLI's subcommands: name -> module with ``main(argv) -> int``.
EXTRA_COMMANDS = {name: f"benign.{name}.cli" for name in ("repro", "bench", "rank")}
DESCRIPTION = (
    "benign: what makes neural networks adversarially vulnerable? Train and evaluate ERM, PGD "
    "adversarial training and TRADES (fit, validate, test, predict), reproduce the paper (repro), "
    "find likely wrong labels (rank) and time the training steps (bench)."
)
EPILOG = (
    "more commands: benign repro: reproduce an experiment of the paper (grid, results.csv, figure, "
    "summary); benign rank: rank a split's points by how likely their label is wrong (ranking.csv, "
    "candidates.png); benign bench: time training steps and the robustness evaluation. Each "
    "command's options: benign <command> --help."
)
quiet.install()
# Configs interpolate by absolute paths (``T_max: ${trainer.max_epochs}``), also readable alone;
# in ``omegaconf+`` mode (resolved after the command line) they are taken relative to the
# subcommand, so ``--trainer.max_epochs 2`` gives T_max 2.
set_parsing_settings(omegaconf_absolute_to_relative_paths=True)


class BenignCLI(LightningCLI):
    """LightningCLI with benign's data/method base classes, run directories and loggers."""

    def __init__(self, args: list[str] | None = None, run: bool = True, **kwargs: Any) -> None:
        self.run_location: RunLocation | None = None
        self.fit_start: FitStart | None = None
        self.created_run_dir: str | None = None
        self.resume_changes: dict[str, tuple[Any, Any]] | None = None
        kwargs = {"save_config_kwargs": {"overwrite": True}, "save_config_callback": SaveRunConfig,
                  "seed_everything_default": 0, **kwargs}  # fmt: skip
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
                "description": DESCRIPTION,
                "epilog": EPILOG,
            },  # fmt: skip
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
        if any(isinstance(lg, WandbLogger) for lg in kwargs.get("logger") or []):
            callbacks.append(WandbRunArtifacts())
        # fast_dev_run writes nothing (Lightning would still save last.ckpt at train end).
        if self.subcommand == "fit" and not trainer_config.get("fast_dev_run"):
            add_run_callbacks(callbacks, location)
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
            self._get(self.config, "run_name")
            or run_name_of(self.datamodule, self.model, self._get(self.config, "seed_everything"))
        )
        if self.subcommand == "fit" and trainer_config.get("fast_dev_run"):
            # A smoke test of the whole loop: Lightning logs and checkpoints nothing; no run is made.
            return RunLocation(save_dir, base_name)
        # Everything a bad input can break is checked before the first file is written.
        if launch_rank() == 0 and self.subcommand is not None:  # (not BenignCLI(run=False))
            preflight.check_save_dir(save_dir)
            preflight.check_trainer_options(trainer_config)
            self.datamodule.prepare_data()  # fill a fresh data_dir before build() reads it
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

    def remove_incomplete_run_dir(self) -> None:
        remove_incomplete_run_dir(self.created_run_dir)


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
    show_info_lines()
    try:
        check_config_files(argv)
        check_checkpoint_path(argv)
        BenignCLI()
        close_wandb(0)  # now, not at exit: an in-process caller's later output is not the run's
    except SIGTERMException:
        # Preempted (SIGTERM/SIGUSR1): the state is in last.ckpt, but the run did not finish.
        close_wandb(PREEMPTED_STATUS)
        requeue_if_requested()  # SIGUSR1 under SLURM: the job comes back and resumes its run
        raise SystemExit(PREEMPTED_STATUS) from None
    except Exception as error:
        if debug or not is_user_error(error):
            raise
        exit_with_user_error(error)


if __name__ == "__main__":
    main()
