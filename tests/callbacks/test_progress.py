"""The robustness and memorisation passes show a progress bar where the Trainer shows its own."""

from __future__ import annotations

import lightning as L
import pytest

from benign.attacks import PGD
from benign.callbacks import Memorization, RobustnessEval
from benign.callbacks.progress import pass_progress
from benign.data import DigitsDataModule
from benign.methods import ERM
from benign.models import DigitsCNN


def _trainer(**kwargs: object) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_model_summary=False,
        **kwargs,
    )  # fmt: skip


def test_pass_progress_draws_a_bar_only_when_the_trainer_shows_one(capsys) -> None:
    batches = list(range(7))
    shown = pass_progress(_trainer(), batches, "robustness @ 3 eps")
    assert shown is not batches and list(shown) == batches
    out = capsys.readouterr()
    assert "robustness @ 3 eps" in out.out + out.err and "0/7" in out.out + out.err  # its total
    hidden = pass_progress(_trainer(enable_progress_bar=False), batches, "robustness @ 3 eps")
    assert hidden is batches
    assert pass_progress(None, batches, "x") is batches
    out = capsys.readouterr()
    assert "robustness" not in out.out + out.err


@pytest.mark.parametrize("bar", ["tqdm", "rich"])
def test_a_fit_with_the_default_bar_shows_both_passes(bar: str, capsys) -> None:
    pytest.importorskip("rich") if bar == "rich" else None
    callbacks = [
        Memorization(every_n_epochs=1),
        RobustnessEval(attack=PGD(eps=0.1, steps=2), eps=[0.0, 0.05], max_samples=64, sanity=False),
    ]
    if bar == "rich":
        from lightning.pytorch.callbacks import RichProgressBar

        callbacks.append(RichProgressBar())
    data = DigitsDataModule(noise_rate=0.2, batch_size=128)
    model = ERM(backbone=lambda n: DigitsCNN(n, width=4, hidden=16))
    trainer = _trainer(max_epochs=1, callbacks=callbacks, limit_val_batches=1)
    trainer.fit(model, datamodule=data)
    trainer.test(model, datamodule=data)
    out = capsys.readouterr()
    text = out.out + out.err
    for name in (
        "memorisation (train labels fitted)",
        "val robustness @ 2 eps",
        "test robustness @ 2 eps",
    ):
        assert name in text, f"no {name!r} bar with the {bar} progress bar"
