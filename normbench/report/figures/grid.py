"""Stability grid: a heatmap of the final metric over two config keys (e.g. lr x depth),
one panel per facet value (e.g. variant), the mean over seeds in each cell.

Diverged cells are hatched and marked ✕ with their best value before divergence, as the
paper's tables report "failed" runs; cells that mix ok and diverged runs say how many.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.patches import Rectangle

from normbench.report.figures.common import DIVERGED, FigureOutput, facet_grid, save
from normbench.report.runs import Run
from normbench.report.spec import FigureSpec, ReportSpec
from normbench.report.tables import build_cells, fmt_value, order_values, run_key


def stability_grid(runs: Sequence[Run], spec: ReportSpec, fs: FigureSpec, path: Path, out: FigureOutput) -> Path | None:
    xk, yk, fk = fs["x"], fs["y"], fs["facet"]
    metric = fs["metric"] or spec.metric
    facets = order_values(run_key(r, [fk])[0] for r in runs) if fk else [None]
    xs = order_values(run_key(r, [xk])[0] for r in runs)
    ys = order_values(run_key(r, [yk])[0] for r in runs)
    panels = []
    for facet in facets:
        fr = [r for r in runs if not fk or run_key(r, [fk])[0] == facet]
        cells = build_cells(fr, spec, row_keys=[yk], col_keys=[xk], metric=metric)
        panels.append((facet, {(c.row[0], c.col[0]): c for c in cells}))
    values = [c.mean for _, cells in panels for c in cells.values() if c.mean is not None]
    if not values:
        out.notes.append(f"{path.name} not drawn: no finished run has {metric}")
        return None
    vmin, vmax = min(values), max(values)
    if vmin == vmax:
        vmin, vmax = vmin - 1, vmax + 1
    cmap = "viridis" if spec.higher_is_better else "viridis_r"  # the good end has the same colour either way

    # facets in rows of a few (a README figure, not a strip of every facet); the CSV has them all
    fig, axes = facet_grid(len(panels), panel=(max(3.8, 1.1 * len(xs) + 1.8), max(3.2, 0.75 * len(ys) + 1.6)),
                           max_columns=4)
    if len(panels) > len(axes):
        out.notes.append(f"{path.name} shows the first {len(axes)} of {len(panels)} {fk} panels; "
                         f"{path.stem}.csv has all")
    rows = [{**({fk: facet} if fk else {}), yk: yv, xk: xv, "metric": metric, "mean": c.mean, "std": c.std,
             "n": c.n, "n_diverged": c.n_diverged, "status": c.status}
            for facet, cells in panels for (yv, xv), c in cells.items()]
    image = None
    for ax, (facet, cells) in zip(axes, panels):
        grid = np.full((len(ys), len(xs)), np.nan)
        for (yv, xv), c in cells.items():
            if c.mean is not None:
                grid[ys.index(yv), xs.index(xv)] = c.mean
        image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_facecolor("#dddddd")  # cells without runs
        for (yv, xv), c in cells.items():
            i, j = ys.index(yv), xs.index(xv)
            number = "—" if c.mean is None else f"{c.mean:.{spec.decimals}f}"
            if c.status == "failed":
                text = f"{DIVERGED} {number}"
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="#b00000", lw=0))
            elif c.status == "mixed":
                text = f"{number}\n{c.n_diverged}/{c.n} {DIVERGED}"
            elif c.status == "incomplete":
                text = "running"
            else:
                text = number
            shade = (c.mean - vmin) / (vmax - vmin) if c.mean is not None else 0.5
            dark = shade > 0.6 if spec.higher_is_better else shade < 0.4
            ax.text(j, i, text, ha="center", va="center", fontsize="small", color="black" if dark else "white",
                    fontweight="bold" if c.status != "ok" else "normal")
        ax.set_xticks(range(len(xs)), [fmt_value(v) for v in xs])
        ax.set_yticks(range(len(ys)), [fmt_value(v) for v in ys])
        ax.set_xlabel(xk)
        ax.set_ylabel(yk)
        ax.set_title(f"{fk} = {fmt_value(facet)}" if fk else metric)
    fig.colorbar(image, ax=axes, label=f"{metric} (mean over seeds)", shrink=0.9)
    # two lines, so a one-panel grid is not narrower than its title
    fig.suptitle(fs["title"] or f"{metric} by {xk} and {yk}\n{DIVERGED} hatched: diverged (best before divergence)")
    out.tables[path.stem] = rows
    return save(fig, path)
