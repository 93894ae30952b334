"""``benign bench --cases eval``: the default robustness evaluation's cost against a PGD-20 grid.

On the digits test split, the same points, the same per-point random starts:

- ``default``: :class:`~benign.callbacks.RobustnessEval`'s test evaluation,
  :class:`~benign.attacks.APGDEnsemble` over the nested eps grid (each eps attacks only the
  points still robust at the previous one, every attack stops at a broken point, one clean pass);
- ``pgd_grid``: the former evaluation, PGD-20 (random start, step ``2.5 * eps / 20``) on every
  point at every eps.

``eval_cost_ratio`` is the default's median time over the grid's; both robust accuracies are
reported per eps. The model is a digits checkpoint (``--eval-ckpt``, e.g. a run of
``configs/digits/erm.yaml --data.noise_rate 0.2``), or, without one, a stand-in trained here:
the digits CNN fitted full batch to the training split with 20% symmetric label noise.
"""

from __future__ import annotations

import importlib
import statistics
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from benign.attacks import PGD, per_example_randomness
from benign.bench.timing import Clock
from benign.callbacks import RobustnessEval
from benign.data import DigitsDataModule
from benign.data.loaders import eval_loader
from benign.errors import ConfigError

#: The eps grid of configs/digits/*.yaml.
EVAL_EPS = (0.0, 0.02, 0.05, 0.1, 0.2)


def load_checkpoint_model(path: str, device: torch.device) -> nn.Module:
    """The LightningModule of a benign checkpoint (its class from the saved hyper-parameters)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError) as err:
        raise ConfigError(f"benign bench: cannot read --eval-ckpt {path}: {err}") from err
    class_path = checkpoint.get("hyper_parameters", {}).get("_class_path")
    if not class_path:
        raise ConfigError(f"benign bench: --eval-ckpt {path} is not a benign checkpoint")
    module, _, name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    model = cls.load_from_checkpoint(path, map_location=device, weights_only=False)
    return model.eval()


def stand_in_model(dm: DigitsDataModule, steps: int, device: torch.device) -> nn.Module:
    """A digits CNN fitted full batch (Adam) to the noisy training labels of ``dm``."""
    from benign.models import DigitsCNN

    train = dm.train_dataset
    x, y = _pixels(train.images).to(device), torch.as_tensor(train.targets).to(device)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = DigitsCNN(dm.num_classes).to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(steps):
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            optimizer.step()
    return net.eval()


def _pixels(images: Tensor) -> Tensor:
    x = images.float()
    return x / 255 if x.max() > 1 else x


def pgd_grid(
    model: nn.Module, loader: DataLoader, eps: list[float], device: torch.device
) -> list[float]:
    """The former evaluation: PGD-20 on every point at every eps; accuracy per eps."""
    attacks = [PGD(e, steps=20) for e in eps]
    correct, n = torch.zeros(len(eps)), 0
    for x, y, index in loader:
        x, y = x.to(device), y.to(device)
        with per_example_randomness(index):
            for k, attack in enumerate(attacks):
                with torch.no_grad():
                    correct[k] += float((model(attack(model, x, y)).argmax(1) == y).sum())
        n += len(y)
    return (correct / max(n, 1)).tolist()


def default_eval(model: nn.Module, loader: DataLoader, eps: list[float]) -> list[float]:
    """:class:`RobustnessEval`'s default test evaluation; accuracy per eps."""
    counts = RobustnessEval(eps=eps, sanity=False).count_correct(model, loader, None)
    return (counts[1:] / counts[0].clamp_min(1)).tolist()


def measure_eval_cost(
    ckpt: str | None,
    rounds: int,
    device: str = "cpu",
    clock: str = "wall",
    max_samples: int | None = None,
    stand_in_steps: int = 60,
) -> dict[str, Any]:
    """Time both evaluations ``rounds`` times, alternating; medians, ratio and accuracies."""
    torch_device = torch.device(device)
    dm = DigitsDataModule(noise_rate=0.2 if ckpt is None else 0.0, noise_seed=0)
    dm.setup("fit")
    dm.setup("test")
    if ckpt is None:
        model = stand_in_model(dm, stand_in_steps, torch_device)
    else:
        model = load_checkpoint_model(ckpt, torch_device)
    loader = eval_loader(dm.test_dataset, dm.eval_batch_size, max_samples=max_samples)
    eps, timer = list(EVAL_EPS), Clock(torch_device, clock)
    times: dict[str, list[float]] = {"default": [], "pgd_grid": []}
    acc: dict[str, list[float]] = {}
    cases = {
        "default": lambda: default_eval(model, loader, eps),
        "pgd_grid": lambda: pgd_grid(model, loader, eps, torch_device),
    }
    for round_index in range(rounds):
        order = list(cases) if round_index % 2 == 0 else list(cases)[::-1]
        for name in order:
            start = timer()
            acc[name] = cases[name]()
            times[name].append(timer() - start)
    median = {name: 1000.0 * statistics.median(values) for name, values in times.items()}
    return {
        "eval_cost_ratio": median["default"] / median["pgd_grid"],
        "eval_ms": median,
        "eval_eps": eps,
        "default_robust_acc": dict(zip(map(str, eps), acc["default"], strict=True)),
        "pgd_grid_robust_acc": dict(zip(map(str, eps), acc["pgd_grid"], strict=True)),
        "eval_model": ckpt or f"stand-in digits CNN (noise 0.2, {stand_in_steps} full-batch steps)",
        "eval_points": len(loader.sampler),
        "eval_attack": RobustnessEval().attack.label,
    }


def format_eval(result: dict[str, Any]) -> list[str]:
    """The report lines of the ``eval`` case in ``benign bench``'s table."""
    ms = result["eval_ms"]
    lines = [
        f"evaluation of {result['eval_model']} on {result['eval_points']} digits test points:",
        f"{'  default (' + result['eval_attack'] + ', nested)':<32}{ms['default']:>12.2f} ms",
        f"{'  PGD-20 at every eps':<32}{ms['pgd_grid']:>12.2f} ms",
    ]
    for eps in result["eval_eps"]:
        key = str(eps)
        lines.append(
            f"  robust acc @ {eps:g}: default {result['default_robust_acc'][key]:.4f}, "
            f"PGD-20 grid {result['pgd_grid_robust_acc'][key]:.4f}"
        )
    ratio = result["eval_cost_ratio"]
    lines.append(f"eval_cost_ratio    = {ratio:.3f}  (default evaluation / PGD-20 grid)")
    return lines
