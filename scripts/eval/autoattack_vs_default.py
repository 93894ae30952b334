"""RobustnessEval's default test evaluation against AutoAttack as published, on one digits checkpoint.

Every test point, one thread; the default runs over the configs' nested grid (0, 0.02, 0.05, 0.1,
0.2), AutoAttack ("standard": APGD-CE, APGD-T, FAB-T, Square; Croce & Hein 2020) at each eps
asked for, on every point (a point counts robust when it is clean-correct and AutoAttack fails).
One JSON line per eps (accuracies, wall and CPU seconds, which attack broke how many points)::

    python scripts/eval/autoattack_vs_default.py runs/digits-at-noise0-seed0/checkpoints/last.ckpt \
        --method at --eps 0.02,0.05,0.1,0.2 --out at_autoattack.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch
from torch.utils.data import DataLoader

from benign.attacks import AutoAttack, per_example_randomness
from benign.callbacks import RobustnessEval
from benign.data import DigitsDataModule
from benign.data.datasets import IndexedTensorDataset, collate_batch
from benign.methods import ERM, TRADES, AdversarialTraining

GRID = [0.0, 0.02, 0.05, 0.1, 0.2]  # configs/digits/base.yaml
METHODS = {"erm": ERM, "at": AdversarialTraining, "trades": TRADES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ckpt")
    parser.add_argument("--method", choices=sorted(METHODS), required=True)
    parser.add_argument(
        "--eps", default="0.02,0.05,0.1,0.2", help="AutoAttack's eps, comma-separated"
    )
    parser.add_argument("--out", default=None, help="append the JSON lines to this file too")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    model = (
        METHODS[args.method]
        .load_from_checkpoint(args.ckpt, map_location="cpu", weights_only=False)
        .eval()
    )
    dm = DigitsDataModule(batch_size=64)
    dm.setup("test")
    x = dm.test_dataset.images.float()
    x = x / 255 if x.max() > 1 else x
    y = torch.as_tensor(dm.test_dataset.targets)
    with torch.no_grad():
        clean = model(x).argmax(1) == y
    start, cpu = time.perf_counter(), time.process_time()
    loader = DataLoader(IndexedTensorDataset(x, y), batch_size=64, collate_fn=collate_batch)
    counts = RobustnessEval(eps=GRID, sanity=False).count_correct(model, loader, None)
    default = dict(zip(GRID, (counts[1:] / counts[0]).tolist(), strict=True))
    emit(args.out, points=len(y), default=default, default_wall_s=time.perf_counter() - start,
         default_cpu_s=time.process_time() - cpu)  # fmt: skip
    for eps in (float(value) for value in args.eps.split(",")):
        attack = AutoAttack(eps)
        start, cpu = time.perf_counter(), time.process_time()
        with per_example_randomness(torch.arange(len(y))):
            x_adv = attack(model, x, y)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        with torch.no_grad():
            robust = (model(x_adv).argmax(1) == y) & clean
        emit(args.out, eps=eps, autoattack=robust.float().mean().item(), default=default.get(eps),
             wall_s=wall, cpu_s=cpu, breaks=getattr(attack, "last_breaks", None))  # fmt: skip


def emit(path: str | None, **record: object) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    if path:
        with open(path, "a") as handle:
            handle.write(line + "\n")


if __name__ == "__main__":
    main()
