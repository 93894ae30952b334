"""Tables and figure of ``benign repro fine-vs-coarse-factors`` (E3 across recipes).

The unit of every number is E3's paired gap: per seed, coarse robust accuracy of the fine-label
model minus that of the coarse-label model (same seed, recipe and coarse map). Per recipe the
summary gives its mean and 95% interval; per factor, the change of the gap from the base recipe
(per seed: gap of the recipe minus gap of the base), which is what separates the factors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benign.repro.experiments.fine_vs_coarse import per_seed, with_map
from benign.repro.factor_design import Recipe, parse_tag
from benign.repro.paired import direction
from benign.repro.plots import new_figure, with_title
from benign.repro.stats import format_mean_ci, mean_ci
from benign.repro.tables import (
    Column,
    dataset_names,
    eps_columns,
    headline_eps,
    markdown_table,
    sanity_note,
    select,
    summary_document,
)

#: The maps of a grid over all three presets are pooled under this name.
ALL_MAPS = "all maps (mean)"


def gaps(results: pd.DataFrame, column: Column) -> pd.DataFrame:
    """Per recipe (``method`` tag), coarse map and seed: fine minus coarse of ``column``."""
    levels = per_seed(
        with_map(results), column.eps, column.metric, ["method", "coarse_map", "seed"]
    )
    return (levels["fine"] - levels["coarse"]).dropna().rename("gap").reset_index()


def _with_pooled(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus, when it has several maps, their per-seed mean under :data:`ALL_MAPS`."""
    if frame["coarse_map"].nunique() < 2:
        return frame
    pooled = frame.groupby(["method", "seed"], as_index=False)["gap"].mean()
    return pd.concat([frame, pooled.assign(coarse_map=ALL_MAPS)], ignore_index=True)


def _with_all(maps: list[str]) -> list[str]:
    """The maps, then :data:`ALL_MAPS` when there are several (see :func:`_with_pooled`)."""
    return [*maps, ALL_MAPS] if len(maps) > 1 else list(maps)


def _gap_of(frame: pd.DataFrame, tag: str, name: str) -> pd.Series:
    """The per-seed gaps of recipe ``tag`` on map ``name`` (a :func:`gaps` frame)."""
    return frame[(frame["method"] == tag) & (frame["coarse_map"] == name)]["gap"]


def _coarse_columns(results: pd.DataFrame) -> list[Column]:
    return [
        Column("coarse clean acc", "coarse_acc"),
        *eps_columns(results, "coarse_robust_acc", "coarse robust acc"),
    ]


def _order(results: pd.DataFrame, grid: Sequence[Recipe] | None) -> tuple[list[str], list[str]]:
    """The recipe tags in the design's order (base first; without ``grid``, the order of the
    rows, whose first cells are the base recipe's) and the coarse maps in grid order."""
    present = list(dict.fromkeys(results["method"].astype(str)))
    tags = [r.tag("ERM") for r in grid or [] if r.tag("ERM") in present]
    maps = list(dict.fromkeys(with_map(results)["coarse_map"]))
    return tags + [t for t in present if t not in tags], maps


def _label(tag: str, base: str) -> str:
    """A recipe as the tables name it: the base with all its levels, any other recipe by the
    levels it changes (``width=w32``)."""
    levels, base_levels = parse_tag(tag)[1], parse_tag(base)[1]
    if tag == base:
        return "base (" + ", ".join(f"{k}={v}" for k, v in levels.items()) + ")" if levels else tag
    return ", ".join(f"{k}={v}" for k, v in levels.items() if base_levels.get(k) != v) or tag


def gap_table(results: pd.DataFrame, grid: Sequence[Recipe] | None) -> pd.DataFrame:
    """Rows recipe x map, one ``fine − coarse`` column per measure, and the seeds."""
    tags, maps = _order(results, grid)
    columns = _coarse_columns(results)
    per_column = {c.label: _with_pooled(gaps(results, c)) for c in columns}
    rows = []
    for tag in tags:
        for name in _with_all(maps):
            row = {"recipe": _label(tag, tags[0]), "coarse map": name}
            seeds = 0
            for label, frame in per_column.items():
                values = _gap_of(frame, tag, name)
                mean, ci, n = mean_ci(values)
                row[f"{label}, fine − coarse"] = format_mean_ci(mean, ci) if n else "–"
                seeds = max(seeds, n)
            rows.append({**row, "seeds": seeds})
    return pd.DataFrame(rows)


def accuracy_table(
    results: pd.DataFrame, grid: Sequence[Recipe] | None, eps: float
) -> pd.DataFrame:
    """Rows recipe x map x training labels: coarse clean and robust accuracy at ``eps`` and the
    training accuracy on the model's own labels (did it interpolate?), mean ± 95% CI."""
    tags, maps = _order(results, grid)
    frame = with_map(results)
    columns = [
        Column("coarse clean acc", "coarse_acc"),
        Column(f"coarse robust acc @ ε={eps:g}", "coarse_robust_acc", eps),
        Column("train acc (own labels)", "train_acc"),
    ]
    rows = []
    for tag in tags:
        for name in maps:
            for level in ("coarse", "fine"):
                runs = frame[(frame["method"] == tag) & (frame["label_level"] == level)]
                row = {"recipe": _label(tag, tags[0]), "coarse map": name, "trained on": level}
                for column in columns:
                    # one fine-label run serves every map: its training fit is under its first
                    values = select(runs, column.metric, column.eps)
                    if column.metric != "train_acc" or level == "coarse":
                        values = values[values["coarse_map"] == name]
                    mean, ci, n = mean_ci(values.drop_duplicates("seed")["value"])
                    row[column.label] = format_mean_ci(mean, ci) if n else "–"
                rows.append(row)
    return pd.DataFrame(rows)


def effect_table(
    results: pd.DataFrame, grid: Sequence[Recipe] | None, column: Column
) -> pd.DataFrame:
    """Per non-base recipe and map: its gap minus the base recipe's gap, paired by seed."""
    tags, maps = _order(results, grid)
    frame = _with_pooled(gaps(results, column))
    base, base_levels = tags[0], parse_tag(tags[0])[1]
    rows = []
    for tag in tags[1:]:
        changed = {k: v for k, v in parse_tag(tag)[1].items() if base_levels.get(k) != v}
        change = ", ".join(f"{k}: {base_levels.get(k)} → {v}" for k, v in changed.items())
        for name in _with_all(maps):
            of_map = frame[frame["coarse_map"] == name].set_index(["method", "seed"])["gap"]
            diff = (
                of_map.get(tag, pd.Series(dtype=float)) - of_map.get(base, pd.Series(dtype=float))
            ).dropna()
            mean, ci, n = mean_ci(diff)
            rows.append(
                {
                    "change from the base recipe": change,
                    "coarse map": name,
                    "change of the gap": format_mean_ci(mean, ci) if n else "–",
                    "interval": direction(mean, ci, n),
                    "seeds": n,
                }
            )
    return pd.DataFrame(rows)


def sign_lines(results: pd.DataFrame, grid: Sequence[Recipe] | None, column: Column) -> str:
    """One line per map: which recipes' gap is above 0, below 0, or includes 0 (95%)."""
    tags, maps = _order(results, grid)
    frame = _with_pooled(gaps(results, column))
    lines = []
    for name in _with_all(maps):
        verdicts: dict[str, list[str]] = {}
        for tag in tags:
            values = _gap_of(frame, tag, name)
            verdicts.setdefault(direction(*mean_ci(values)), []).append(_label(tag, tags[0]))
        said = "; ".join(f"**{k}**: {' | '.join(v)}" for k, v in verdicts.items())
        lines.append(f"- `{name}`: {said}")
    return "\n".join(lines)


def factors_summary(
    results: pd.DataFrame,
    grid: Sequence[Recipe],
    design: str,
    wanted_eps: float | None,
    command: str,
    dataset: str,
) -> str:
    """``summary.md``: the recipes, every gap, each factor's effect, the sign per recipe."""
    eps = headline_eps(results, "coarse_robust_acc", wanted_eps, default=0.1)
    headline = Column(f"coarse robust acc @ ε={eps:g}", "coarse_robust_acc", eps)
    recipes = pd.DataFrame(
        [
            {**r.levels, "backbone": _backbone(results, r.tag("ERM"))}
            for r in grid
            if r.tag("ERM") in set(results["method"].astype(str))
        ]
    )
    intro = (
        f"E3 (PAPER.md) on {dataset} under {len(recipes)} training recipes ({design} design over "
        "the factors; the first recipe is the base): ERM on coarse labels vs on fine labels, "
        "both scored and attacked on the coarse task of the same map (the default test "
        "evaluation: APGD-CE then APGD-DLR over the nested eps grid, on the coarse decision). "
        "The gap is fine − coarse per seed; its change from the base recipe is paired by seed."
    )
    sections = [
        ("Recipes", markdown_table(recipes)),
        (
            f"Coarse-task accuracy at ε={eps:g} and training fit",
            markdown_table(accuracy_table(results, grid, eps)),
        ),
        (
            "Gap per recipe (fine − coarse, paired by seed)",
            markdown_table(gap_table(results, grid)),
        ),
        (
            f"Effect of each factor on the gap at ε={eps:g} (recipe's gap − base recipe's gap)",
            markdown_table(effect_table(results, grid, headline)),
        ),
        (f"Sign of the gap at ε={eps:g} (95% interval)", sign_lines(results, grid, headline)),
        ("Figure", "![E3 factors](figure.png)"),
    ]
    return summary_document(
        "fine-vs-coarse-factors (E3 across recipes)",
        command,
        intro,
        sections,
        audit=sanity_note(results),
    )


def _backbone(results: pd.DataFrame, tag: str) -> str:
    names = results.loc[results["method"] == tag, "backbone"].dropna().unique()
    return ", ".join(str(n) for n in names)


def factors_figure(
    results: pd.DataFrame, grid: Sequence[Recipe] | None = None, wanted_eps: float | None = None
) -> Figure:
    """Per coarse map (and pooled): each recipe's gap at the headline eps, mean ± 95% CI, with
    the seeds' own gaps as dots; the base recipe on top, 0 marked."""
    eps = headline_eps(results, "coarse_robust_acc", wanted_eps, default=0.1)
    tags, maps = _order(results, grid)
    frame = _with_pooled(gaps(results, Column("", "coarse_robust_acc", eps)))
    panels = _with_all(maps)
    # one panel gets the room of two: the recipe labels and the title need it
    width = 4.6 if len(panels) > 1 else 8.0
    figure, axes = new_figure(len(panels), width=width, height=0.55 * len(tags) + 1.8)
    y = np.arange(len(tags))[::-1]
    for ax, name in zip(axes, panels, strict=True):
        for position, tag in zip(y, tags, strict=True):
            values = _gap_of(frame, tag, name)
            mean, ci, n = mean_ci(values)
            colour = "tab:blue" if mean - ci > 0 else "tab:red" if mean + ci < 0 else "tab:gray"
            ax.scatter(values, np.full(len(values), position), s=10, color=colour, alpha=0.4)
            ax.errorbar(mean, position, xerr=np.nan_to_num(ci), fmt="o", color=colour, capsize=3)
        ax.axvline(0.0, color="black", linewidth=0.8)
        labels = [_label(t, tags[0]).replace(" (", "\n(").replace(", ", ",\n") for t in tags]
        ax.set_yticks(y, labels if ax is axes[0] else [])
        ax.set_title(f"coarse map: {name}", fontsize=10)
        ax.set_xlabel(f"fine − coarse, coarse robust acc @ ε={eps:g}")
        ax.grid(alpha=0.3, axis="x")
    return with_title(
        figure,
        f"E3 across recipes ({dataset_names(results)}): blue above 0, red below, grey includes 0",
    )
