"""The robustness evaluation audits itself: a model with a masked gradient (a quantising first
layer) fails the sanity checks, an ordinary model passes them; ``strict`` stops the run."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn

from benign.attacks import PGD, APGDEnsemble
from benign.callbacks import RobustnessEval, SanityCheckError
from benign.callbacks import sanity as checks
from benign.data import DigitsDataModule
from tests.cli.helpers import run_benign
from tests.reliability.helpers import FAST_CONFIG, MaskedMLP, write_config


class Classifier(L.LightningModule):
    """Wraps a trained network for ``Trainer.test`` (RobustnessEval does the scoring)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)

    def test_step(self, batch, batch_idx):
        x, y, _ = batch
        self.log("test/acc", (self(x).argmax(1) == y).float().mean())


def trained(net: nn.Module, dm: DigitsDataModule, steps: int = 300) -> nn.Module:
    """Full-batch Adam on the digits training split (a few seconds on CPU)."""
    x, y = dm.train_eval_dataset.images.float(), dm.train_eval_dataset.targets
    x = x / 255 if x.max() > 1 else x
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    return net.eval()


def mlp(num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, num_classes))


@pytest.fixture(scope="module")
def digits():
    dm = DigitsDataModule(batch_size=128)
    dm.setup("test")
    return dm


def audit(net: nn.Module, dm: DigitsDataModule, **kwargs) -> RobustnessEval:
    """Test-time evaluation of ``net``; the default attack unless ``attack`` is given."""
    kwargs.setdefault("attack", RobustnessEval().attack)
    evaluation = RobustnessEval(eps=[0.0, 0.05, 0.1, 0.5], max_samples=300, **kwargs)
    trainer = L.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[evaluation],
    )  # fmt: skip
    torch.manual_seed(0)
    trainer.test(Classifier(net), datamodule=dm, verbose=False)
    evaluation.logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
    return evaluation


@pytest.fixture(scope="module")
def normal(digits):
    # On this 300-step Adam MLP the default's untargeted APGD misses ~3 points at eps 0.1 that
    # APGD-T finds (the audit flags it); with 9 targets the evaluation passes every check.
    return audit(trained(mlp(10), digits), digits, attack=APGDEnsemble(0.1, targets=9))


@pytest.fixture(scope="module")
def masked(digits):
    with pytest.warns(checks.RobustnessSanityWarning, match="failed its sanity checks"):
        return audit(trained(MaskedMLP(10), digits), digits, attack=PGD(eps=0.1, steps=10))


def test_an_ordinary_model_passes_every_check(normal):
    report = normal.sanity_reports["test"]
    assert report.ok, report.summary()
    assert set(report.passed) == set(checks.CHECKS)  # all five ran
    assert normal.results["test/robust_acc@0"] > 0.85
    assert normal.results["test/robust_acc@0.5"] <= 0.12  # at 0.5 a constant image is reachable
    assert normal.logged["test/sanity_ok"] == 1.0
    assert normal.logged["test/sanity_gradients"] == 1.0


def test_a_masked_gradient_is_flagged(masked):
    report = masked.sanity_reports["test"]
    assert not report.ok
    assert report.passed["gradients"] is False and "all zero on" in report.failures["gradients"]
    assert (
        report.passed["masking"] is False
        and "suspect gradient masking" in report.failures["masking"]
    )
    # the attack cannot move: robust accuracy at eps 0.5 stays far above chance (~0.1)
    assert masked.results["test/robust_acc@0.5"] > 0.3
    assert masked.results["test/robust_acc@0"] > 0.85
    assert masked.logged["test/sanity_ok"] == 0.0
    assert masked.logged["test/sanity_masking"] == 0.0
    assert masked.logged["test/robust_acc@0.1"] == pytest.approx(
        masked.results["test/robust_acc@0.1"]
    )


def test_strict_fails_the_evaluation(digits):
    with pytest.raises(
        SanityCheckError,
        # masking and gradients must fail; monotone/below_clean may too (random starts alone can
        # move a few points of this barely trained model either way)
        match=r"sanity checks: (.*; )?masking: .*; gradients: .*\(set strict: false to only warn\)$",
    ):
        audit(
            trained(MaskedMLP(10), digits, steps=50), digits, strict=True, sanity_samples=0,
            attack=PGD(eps=0.1, steps=10),
        )  # fmt: skip


def test_strict_fails_the_run_with_one_line(tmp_path, monkeypatch, capfd):
    config = {
        **FAST_CONFIG,
        "model": {"class_path": "benign.methods.ERM", "init_args": {"backbone": {"class_path": "tests.reliability.helpers.MaskedMLP"}}},
    }  # fmt: skip
    strict = {"class_path": "benign.callbacks.RobustnessEval", "init_args": {"eps": [0.0, 0.5], "strict": True, "sanity_samples": 0, "max_samples": 100}}  # fmt: skip
    path = write_config(tmp_path / "config.yaml", config, max_epochs=1, callbacks=[strict])
    assert run_benign(["fit", "--config", path], monkeypatch) == 2
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert lines[-1].startswith(
        "benign: error: val robustness evaluation failed its sanity checks: "
    )
    assert "gradients: input gradients of the attack loss are all zero" in lines[-1]
    assert sum("error" in line for line in lines) == 1


# -- the checks on given numbers -------------------------------------------------------------
def report_of(check, *args) -> checks.SanityReport:
    report = checks.SanityReport()
    check(report, *args)
    return report


def test_monotone_and_below_clean():
    assert report_of(checks.check_monotone, [0, 0.1, 0.2], [0.9, 0.5, 0.51], 0.02).ok
    bad = report_of(checks.check_monotone, [0, 0.1, 0.2], [0.9, 0.5, 0.6], 0.02)
    assert (
        not bad.ok and "rises from 0.500 at eps 0.1 to 0.600 at eps 0.2" in bad.failures["monotone"]
    )
    assert report_of(checks.check_below_clean, [0.1], [0.81], 0.8, 0.02).ok
    assert not report_of(checks.check_below_clean, [0.1], [0.9], 0.8, 0.02).ok


def test_masking_runs_only_for_linf_at_large_eps():
    eps, acc = [0.0, 0.5], [0.9, 0.3]
    assert not report_of(checks.check_masking, eps, acc, "linf", 0.5, 0.1, 0.02).ok
    assert report_of(checks.check_masking, eps, [0.9, 0.11], "linf", 0.5, 0.1, 0.02).ok
    assert report_of(checks.check_masking, eps, acc, "l2", 0.5, 0.1, 0.02).passed == {}
    assert report_of(checks.check_masking, [0.0, 0.3], acc, "linf", 0.5, 0.1, 0.02).passed == {}


def test_the_stronger_attack_flags_more_than_tolerance_times_n_plus_two_broken_points():
    assert report_of(checks.check_stronger, 0.1, 200, 120, 6, 0.02).ok  # 0.02 * 200 + 2 = 6
    flagged = report_of(checks.check_stronger, 0.1, 200, 120, 7, 0.02)
    assert flagged.passed == {"stronger_attack": False}
    assert "breaks 7 of the 120 points" in flagged.failures["stronger_attack"]


def test_the_reference_attack_is_apgd_ce_dlr_and_t_at_full_budget():
    strong = checks.reference_attack(0.2, "l2")
    assert [(a.loss, a.steps, a.restarts, a.targets) for a in strong.attacks] == [
        ("ce", 100, 1, 0), ("dlr", 100, 2, 0), ("ce", 100, 1, 9)
    ]  # fmt: skip
    assert all((a.eps, a.norm) == (0.2, "l2") for a in strong.attacks)


def test_gradient_audit_counts_zero_and_non_finite_batches():
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    audit_ = checks.GradientAudit("ce", torch.device("cpu"))
    audit_.update(mlp(10), x, y)
    audit_.update(MaskedMLP(10), x, y)
    nan_net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    nn.init.constant_(nan_net[1].weight, float("nan"))
    audit_.update(nan_net, x, y)
    _, zero, nonfinite, batches = audit_.counts.tolist()
    assert (zero, nonfinite, batches) == (1, 1, 3)


def test_invalid_settings_are_config_errors():
    from benign.errors import ConfigError

    for bad in ({"sanity_samples": -1}, {"masking_eps": 0}, {"sanity_tolerance": 1.5}):
        with pytest.raises(ConfigError):
            RobustnessEval(**bad)
