"""A fine-label model scored on one more coarse task, exactly as ``RobustnessEval`` scores its own.

E3 trains one fine-label model and compares it, per coarse map, with a coarse-label model of
that map. The fine model does not depend on the map, so a grid over several maps trains it once:
its run's :class:`~benign.callbacks.RobustnessEval` scores the data module's map, and
:func:`coarse_scores` the others with the callback's own test attacks, points, batch size and
per-point random starts (so on the run's own map it returns the callback's numbers).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from benign.attacks import per_example_randomness
from benign.callbacks import RobustnessEval
from benign.callbacks.coarse import CoarseLogits
from benign.callbacks.eval_grid import correct_count, eps_key, robust_grid
from benign.callbacks.fault_tolerance import epoch_seed
from benign.callbacks.robustness_eval import EVAL_STREAM
from benign.data.coarse import resolve_coarse_map
from benign.data.loaders import eval_loader
from benign.data.options import ClassFacts


def coarse_map_tensor(datamodule: ClassFacts, spec: str | Sequence[int] | None) -> Tensor:
    """The fine -> coarse map of a preset name or explicit list of ``datamodule``'s dataset
    (``None``: its default preset), resolved and checked as the data module resolves its own
    (:func:`benign.data.coarse.resolve_coarse_map`)."""
    mapping, _, _ = resolve_coarse_map(
        spec,
        presets=datamodule.coarse_map_presets,
        preset_names=datamodule.coarse_class_names_presets,
        default=datamodule.default_coarse_map,
        fine_names=tuple(datamodule.fine_classes),
        dataset=datamodule.name,
    )
    return torch.as_tensor(mapping, dtype=torch.long)


@torch.inference_mode(False)
def coarse_scores(
    model: nn.Module,
    dataset: torch.utils.data.Dataset,
    coarse_map: Tensor,
    callback: RobustnessEval,
    batch_size: int,
    seed: int | None = None,
) -> dict[str, float]:
    """``coarse_acc`` and ``coarse_robust_acc@<eps>`` of fine-label ``model`` on the test
    ``dataset`` under ``coarse_map``, attacked on the coarse decision (:class:`CoarseLogits`).

    ``seed`` is the run's global seed (``PL_GLOBAL_SEED`` when ``None``), which seeds the
    evaluation's random starts as in :meth:`RobustnessEval._run`."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    coarse_map = coarse_map.to(device)
    coarse_model = CoarseLogits(model, coarse_map)
    attacks = callback.grid_attacks("test", model)
    seed = int(os.environ.get("PL_GLOBAL_SEED", 0)) if seed is None else seed
    base = epoch_seed(seed, EVAL_STREAM)
    loader = eval_loader(dataset, batch_size, max_samples=callback.max_samples)
    totals = torch.zeros(2 + len(attacks), device=device)
    with torch.random.fork_rng():
        torch.manual_seed(base)
        for x, y, index in loader:
            x, y_coarse = x.to(device), coarse_map[y.to(device)]
            with per_example_randomness(index + base):
                masks, _ = robust_grid(coarse_model, attacks, x, y_coarse, callback.nested)
                row = [
                    torch.tensor(y.numel(), device=device),
                    correct_count(coarse_model, x, y_coarse),
                ]
            totals += torch.stack([*row, *[m.sum() for m in masks]]).float()
    model.train(was_training)
    n = totals[0].clamp_min(1)
    names = ["coarse_acc"] + [f"coarse_robust_acc@{eps_key(eps)}" for eps in callback.eps]
    return {name: (count / n).item() for name, count in zip(names, totals[1:], strict=True)}
