"""What every report figure shares: an Agg figure without pyplot, groups of runs, colours,
mean-over-seeds curves, and the FigureOutput that collects files, extra tables and notes.

Figures are drawn on matplotlib.figure.Figure objects rendered by Agg (no pyplot): nothing
global is switched, so a notebook that imports the report keeps its own backend, and no
figure lingers in pyplot's registry after it is saved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from normbench.report.runs import Run
from normbench.report.tables import group_label, ordered_keys, run_key

DIVERGED = "✕"  # marks diverged runs and cells in every figure


@dataclass
class FigureOutput:
    """What make_figures produced: the PNGs, the tables some figures need, and notes on
    figures that were skipped (e.g. no probes.jsonl) so the README can say why."""

    paths: list[Path] = field(default_factory=list)
    tables: dict[str, list[dict]] = field(default_factory=dict)  # name -> rows, written as <name>.csv
    csv_paths: dict[str, Path] = field(default_factory=dict)
    markdown: dict[str, str] = field(default_factory=dict)  # name -> a small markdown table for table.md
    notes: list[str] = field(default_factory=list)


def new_figure(nrows: int = 1, ncols: int = 1, panel: tuple[float, float] = (6.0, 4.2)) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


MAX_COLUMNS = 3   # facets a row: a README shows a figure about 900 px wide
MAX_PANELS = 12   # facets a figure; the figure's CSV keeps every one


def facet_grid(n: int, panel: tuple[float, float] = (5.0, 3.6), max_columns: int = MAX_COLUMNS,
               max_panels: int = MAX_PANELS) -> tuple[Figure, list]:
    """A figure of min(n, max_panels) facets laid out in rows of at most max_columns, so a
    figure with many facets stays readable in a README (not a 1 x 30 strip or a 13-row column);
    returns the figure and one axis per facet shown (unused cells of the last row are hidden).
    The caller says in a note which facets were left out."""
    shown = max(1, min(n, max_panels))
    ncols = min(shown, max_columns)
    nrows = -(-shown // ncols)
    fig, axes = new_figure(nrows, ncols, panel=panel)
    flat = list(axes.flat)
    for ax in flat[shown:]:
        ax.set_axis_off()
    return fig, flat[:shown]


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, format="png")
    return path


def colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def groups(runs: Sequence[Run], keys: Sequence[str]) -> list[tuple[str, tuple, list[Run]]]:
    """(label, key values, runs) per distinct value of `keys`, in table order."""
    by: dict[tuple, list[Run]] = {}
    for r in runs:
        by.setdefault(run_key(r, keys), []).append(r)
    return [(group_label(keys, k), k, by[k]) for k in ordered_keys(by)]


def mean_band(series: Sequence[tuple[Sequence[int], Sequence[float]]], band: str = "minmax"):
    """Mean over runs at each step any run logged (finite values only), with a min-max or
    ±std band: (steps, mean, lo, hi) as arrays. Runs that stopped early (diverged) simply
    stop contributing, so the mean is over the runs still there."""
    at: dict[int, list[float]] = {}
    for steps, values in series:
        for s, v in zip(steps, values):
            if v is not None and math.isfinite(v):
                at.setdefault(int(s), []).append(float(v))
    steps = np.array(sorted(at))
    vals = [np.array(at[s]) for s in steps]
    mean = np.array([v.mean() for v in vals])
    if band == "std":
        std = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in vals])
        lo, hi = mean - std, mean + std
    else:
        lo, hi = np.array([v.min() for v in vals]), np.array([v.max() for v in vals])
    return steps, mean, lo, hi


def last_finite(steps: Sequence[int], values: Sequence[float]) -> tuple[int, float] | None:
    for s, v in zip(reversed(list(steps)), reversed(list(values))):
        if math.isfinite(v):
            return s, v
    return None


def short(text: Any, width: int = 40) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def layer_title(selector: Any, names: set[str]) -> str:
    """"last norm layer (fc_norm)": a layer selector and the layer it resolved to."""
    word = f"{selector} norm layer" if isinstance(selector, str) and selector in ("first", "middle", "last") else (
        f"depth index {selector}" if isinstance(selector, int) else str(selector))
    if len(names) == 1 and next(iter(names)) != selector:
        word += f" ({next(iter(names))})"
    return word
