"""Figures of ``benign repro``: curves and bars of mean ± 95% CI over seeds, image grids.

Built on :class:`matplotlib.figure.Figure` (no pyplot, so no global backend state): callers
make a figure with :func:`new_figure`, fill the axes, then :func:`with_title`; the
runner saves it (:func:`benign.repro.runner.gather`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from benign.repro.stats import aggregate

#: The x-axis label of every robustness curve (INTERFACE.md: eps in pixel units of [0, 1]).
EPS_LABEL = "attack radius ε (ℓ∞, pixel units of inputs in [0, 1])"


def new_figure(panels: int, width: float = 4.8, height: float = 3.8) -> tuple[Figure, list[Axes]]:
    """A figure with ``panels`` side-by-side axes."""
    figure = Figure(figsize=(width * panels, height), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    return figure, list(axes)


def with_title(figure: Figure, text: str) -> Figure:
    """``figure`` with the overall title ``text``."""
    figure.suptitle(text, fontsize=12)
    return figure


def eps_curves(
    ax: Axes,
    results: pd.DataFrame,
    metric: str,
    hue: str,
    label: Callable[[object], str] = str,
    title: str = "",
    ylabel: str = "robust test accuracy",
    order: Sequence[object] | None = None,
) -> None:
    """One curve of ``metric`` vs eps per value of ``hue``, mean with a 95% CI band over seeds."""
    rows = results[(results["metric"] == metric) & results["eps"].notna()]
    stats = aggregate(rows, [hue, "eps"])
    values = list(order) if order is not None else sorted(stats[hue].dropna().unique().tolist())
    for value in values:
        curve = stats[stats[hue] == value].sort_values("eps")
        if curve.empty:
            continue
        x, mean = curve["eps"].to_numpy(float), curve["mean"].to_numpy(float)
        ci = np.nan_to_num(curve["ci"].to_numpy(float))
        n = int(curve["n"].max())
        (line,) = ax.plot(x, mean, marker="o", markersize=4, label=f"{label(value)} (n={n})")
        ax.fill_between(x, mean - ci, mean + ci, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(EPS_LABEL)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)


def grouped_bars(
    ax: Axes,
    table: pd.DataFrame,
    group: str,
    bar: str,
    title: str = "",
    ylabel: str = "accuracy",
    group_order: Sequence[object] | None = None,
    bar_order: Sequence[object] | None = None,
    bar_labels: dict[object, str] | None = None,
) -> None:
    """Bars of ``table['mean']`` with 95% CI whiskers: groups along x, one bar per ``bar`` value.

    ``table`` has columns ``group``, ``bar``, ``mean``, ``ci``, ``n`` (see
    :func:`benign.repro.stats.aggregate`).
    """
    groups = list(group_order) if group_order is not None else table[group].unique().tolist()
    bars = list(bar_order) if bar_order is not None else table[bar].unique().tolist()
    width = 0.8 / max(len(bars), 1)
    x = np.arange(len(groups))
    for i, value in enumerate(bars):
        means, errors = [], []
        for name in groups:
            row = table[(table[group] == name) & (table[bar] == value)]
            means.append(float(row["mean"].iloc[0]) if len(row) else math.nan)
            errors.append(float(np.nan_to_num(row["ci"].iloc[0])) if len(row) else 0.0)
        label = (bar_labels or {}).get(value, str(value))
        ax.bar(
            x + (i - (len(bars) - 1) / 2) * width, means, width, yerr=errors, capsize=3, label=label
        )
    wrap = textwrap.TextWrapper(width=6, break_long_words=False, break_on_hyphens=False)
    ax.set_xticks(x, [wrap.fill(str(g)) for g in groups])
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.3)  # room for the legend above bars that reach 1
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncol=min(len(bars), 3))


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    path: str,
    colors: Sequence[str] | None = None,
    ncols: int = 8,
    suptitle: str | None = None,
) -> None:
    """Save images (``[C, H, W]`` or ``[H, W]`` in [0, 1]) in a grid, each with a title;
    ``colors`` frames each image (e.g. green for a planted flip, red otherwise)."""
    n = max(len(images), 1)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    figure = Figure(figsize=(1.6 * ncols, 1.9 * nrows + 0.6), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(images):
            ax.set_axis_off()
            continue
        image = np.asarray(images[i], dtype=float)
        if image.ndim == 3:
            image = image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_title(titles[i], fontsize=7)
        if colors is not None:
            for spine in ax.spines.values():
                spine.set_edgecolor(colors[i])
                spine.set_linewidth(2.5)
    if suptitle:
        with_title(figure, suptitle)
    figure.savefig(path, dpi=150)


def paired_points(
    ax: Axes,
    per_seed: pd.DataFrame,
    conditions: Sequence[str],
    title: str = "",
    ylabel: str = "",
    labels: Sequence[str] | None = None,
) -> None:
    """Per-seed values of two or more ``conditions`` (columns of ``per_seed``, one row a seed)
    joined by grey lines, with the mean and its 95% CI beside them."""
    from benign.repro.stats import mean_ci

    x = np.arange(len(conditions))
    for _, row in per_seed.iterrows():
        ax.plot(
            x, [row[c] for c in conditions], color="0.6", marker="o", markersize=3, linewidth=0.8
        )
    for i, condition in enumerate(conditions):
        mean, ci, n = mean_ci(per_seed[condition])
        ax.errorbar(
            i + 0.12,
            mean,
            yerr=0.0 if math.isnan(ci) else ci,
            fmt="D",
            color="C3",
            capsize=4,
            label="mean ± 95% CI" if i == 0 else None,
        )
    ax.set_xticks(x, list(labels or conditions))
    ax.set_xlim(-0.5, len(conditions) - 0.5)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.plot(
        [],
        [],
        color="0.6",
        marker="o",
        markersize=3,
        linewidth=0.8,
        label=f"one seed (n={len(per_seed)})",
    )
    ax.legend(fontsize=8)
