"""The DataModule inside a real Lightning Trainer: hooks, checkpointed labels, resume."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from benign.data import DigitsDataModule


class TinyModel(L.LightningModule):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))
        self.seen: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        x, y, index = batch
        self.seen.append(index)
        return nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y, _ = batch
        self.log("val/acc", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def trainer(tmp_path, epochs: int) -> L.Trainer:
    return L.Trainer(
        max_epochs=epochs,
        default_root_dir=str(tmp_path),
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )


def test_fit_then_resume_keeps_the_noisy_labels(tmp_path) -> None:
    dm = DigitsDataModule(noise_rate=0.2, noise_seed=1, batch_size=256)
    model = TinyModel(dm.num_classes)
    first = trainer(tmp_path / "first", 1)
    first.fit(model, datamodule=dm)
    seen = torch.cat(model.seen)
    assert sorted(seen.tolist()) == list(range(len(dm.train_dataset)))  # one epoch, each once
    ckpt = tmp_path / "last.ckpt"
    first.save_checkpoint(ckpt)

    resumed = DigitsDataModule(noise_rate=0.2, noise_seed=99, batch_size=256)
    trainer(tmp_path / "resumed", 2).fit(
        TinyModel(resumed.num_classes), datamodule=resumed, ckpt_path=ckpt
    )
    assert torch.equal(resumed.observed_targets, dm.observed_targets)
    assert torch.equal(resumed.train_dataset.targets, dm.observed_targets)
    assert torch.equal(resumed.noisy_mask, dm.noisy_mask)
