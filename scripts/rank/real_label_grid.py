"""The top-K image grid of one E4 ranking file on real (unplanted) labels, with the points that
another ranking's top K shares framed in blue, and the overlap printed.

    python scripts/rank/real_label_grid.py RANKING.csv OTHER.csv OUT.png --dataset mnist5k

RANKING/OTHER: ``rankings/<ranker>-<noise>-seed<s>.csv`` of ``benign repro mislabelled
--set noise_rate=0`` (columns position, source_index, given, suspected: the class preferred to the given one, ...); the images are the
dataset's training split with its default split seed, which is what the grid trained on.
"""

from __future__ import annotations

import argparse

import matplotlib
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benign.data import DATASETS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ranking")
    parser.add_argument("other")
    parser.add_argument("out")
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--top", type=int, default=32)
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    data = DATASETS.load(args.dataset)()
    data.setup("fit")
    train = data.train_dataset
    ranking = pd.read_csv(args.ranking).head(args.top)
    shared = set(pd.read_csv(args.other).head(args.top)["source_index"]) & set(
        ranking["source_index"]
    )
    if not (
        data.train_source_indices.numpy()[ranking["position"]] == ranking["source_index"]
    ).all():
        raise SystemExit("the ranking's positions are not this split's: another split seed?")
    columns = 8
    fig, axes = plt.subplots(
        -(-args.top // columns), columns, figsize=(2 * columns, 2.4 * args.top / columns)
    )
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, row in zip(axes.flat, ranking.itertuples(), strict=False):
        ax.set_axis_on()
        ax.imshow(train.images[row.position].squeeze().numpy(), cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor("tab:blue" if row.source_index in shared else "0.6")
            spine.set_linewidth(4)
        flag = " (flagged)" if getattr(row, "flagged", False) is True else ""
        ax.set_title(f"given {row.given}\nsuggested {row.suspected}{flag}", fontsize=9)
    fig.suptitle(f"{args.title} top {args.top}: blue = also in the other ranking's top {args.top}")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"shared top {args.top}: {len(shared)}")


if __name__ == "__main__":
    main()
