"""Cheaper adversarial training and evaluation (issue 6, item 3): the FGSM-RS "fast" AT configs
(Wong et al. 2020) and RobustnessEval's ``max_samples`` / ``every_n_epochs``."""

from __future__ import annotations

import os

import lightning as L
import pytest
import torch

from benign.attacks import FGSM, PGD
from benign.callbacks import RobustnessEval
from benign.cli import BenignCLI
from benign.data import DigitsDataModule
from benign.methods import ERM, AdversarialTraining
from benign.models import DigitsCNN
from tests.cli.helpers import run_benign
from tests.data.conftest import cifar10_dir, cifar10_files, skip_cifar_md5  # noqa: F401

ONE_STEP = [
    "--trainer.fast_dev_run", "true", "--test_after_fit", "false", "--wandb.mode", "disabled",
    "--trainer.accelerator", "cpu", "--trainer.devices", "1",
]  # fmt: skip


def fast_config(repo_root: str, dataset: str) -> str:
    return os.path.join(repo_root, "configs", dataset, "at_fast.yaml")


@pytest.mark.parametrize("dataset, eps", [("digits", 0.1), ("cifar10", 8 / 255)])
def test_fast_at_configs_are_fgsm_rs_with_a_step_of_1_25_eps(repo_root, dataset, eps, monkeypatch):
    monkeypatch.setattr("sys.argv", ["benign"])
    cli = BenignCLI(args=["--config", fast_config(repo_root, dataset)], run=False)
    model = cli.model
    assert isinstance(model, AdversarialTraining)
    attack = model.attack
    assert isinstance(attack, FGSM) and attack.random_start and attack.norm == "linf"
    assert attack.eps == pytest.approx(eps)
    assert attack.alpha == pytest.approx(1.25 * eps, rel=0.03)  # 10/255 at 8/255 on CIFAR


def test_cifar_fast_at_learning_rate_is_one_cycle_over_the_epochs(repo_root, monkeypatch):
    monkeypatch.setattr("sys.argv", ["benign"])
    cli = BenignCLI(args=["--config", fast_config(repo_root, "cifar10")], run=False)
    config = cli.model.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    epochs = cli.trainer.max_epochs
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(epochs):  # Lightning steps it once per epoch, also after the last one
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert lrs[peak] == pytest.approx(0.2)
    assert peak == 2 * epochs // 5  # Wong et al.: the peak at 2/5 of training
    assert lrs[0] < 0.001 and lrs[epochs - 1] < 0.15 * 0.2 and lrs[epochs] < 0.001
    assert all(a < b for a, b in zip(lrs[:peak], lrs[1 : peak + 1], strict=True))
    assert all(a > b for a, b in zip(lrs[peak:], lrs[peak + 1 :], strict=False))


def test_digits_fast_at_trains_one_step(repo_root, monkeypatch):
    assert (
        run_benign(["fit", "--config", fast_config(repo_root, "digits"), *ONE_STEP], monkeypatch)
        == 0
    )


def test_cifar_fast_at_trains_one_step(repo_root, cifar10_dir, monkeypatch):  # noqa: F811
    data_dir, _ = cifar10_dir
    args = [
        "fit", "--config", fast_config(repo_root, "cifar10"), "--data.data_dir", str(data_dir),
        "--model.backbone.width", "8", "--data.batch_size", "8", "--data.num_workers", "0",
    ]  # fmt: skip
    assert run_benign([*args, *ONE_STEP], monkeypatch) == 0


class CountingPGD(PGD):
    """PGD that records how many points it attacks (shared by its ``with_eps`` copies)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[float, int]] = []

    def perturb(self, model, x, y):
        self.log.append((self.eps, len(x)))
        return super().perturb(model, x, y)


def test_evaluation_runs_every_n_epochs_on_max_samples_points():
    L.seed_everything(0, verbose=False)
    attack = CountingPGD(0.1, steps=1)
    callback = RobustnessEval(
        attack, val_attack=None, eps=[0.0, 0.1], every_n_epochs=2, max_samples=20, sanity=False
    )  # val_attack None: validation uses the counting attack too
    epochs_seen: list[int] = []

    class EpochOfEvaluation(L.Callback):
        def on_validation_epoch_end(self, trainer, pl_module):
            epochs_seen.append((trainer.current_epoch, len(attack.log)))

    trainer = L.Trainer(
        max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, callbacks=[callback, EpochOfEvaluation()],
    )  # fmt: skip
    module = ERM(DigitsCNN, num_classes=10, optimizer=lambda p: torch.optim.SGD(p, lr=0.05))
    datamodule = DigitsDataModule(batch_size=64, eval_batch_size=16, train_subset=128)
    trainer.fit(module, datamodule=datamodule)
    # Epochs 0, 1, 2: evaluated after epoch 1 (every 2nd) and epoch 2 (the last), not epoch 0.
    assert [n for _, n in epochs_seen] == [0, 2, 4]  # 20 points in batches of 16: 2 calls each
    # only eps 0.1 runs the attack, on the clean-correct points of each batch of 16 + 4
    assert [eps for eps, _ in attack.log] == [0.1] * 4
    assert all(n <= limit for (_, n), limit in zip(attack.log, [16, 4] * 2, strict=True))
    assert set(callback.results) == {"val/robust_acc@0", "val/robust_acc@0.1"}
