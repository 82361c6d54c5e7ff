"""Sample grids side by side: for each group, the latest grid of its best run.

task=generate writes a grid of class-conditional samples at each evaluation into its run
folder (images/val_<image>_step<step>.png); a study of generators is read as much from what
its variants draw as from their numbers, so this figure puts one grid per group (by default
the table's rows and columns) next to the others: that of the group's best run by the
report's metric (a run without a value counts last), at its latest step.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Sequence

from normbench.report.figures.common import FigureOutput, groups, new_figure, save, short
from normbench.report.runs import Run
from normbench.report.spec import FigureSpec, ReportSpec

_STEP = re.compile(r"_step(\d+)\.png$")


def latest_image(run: Run, image: str) -> tuple[int, Path] | None:
    """(step, path) of the run's last images/val_<image>_step<step>.png, or None."""
    found = [(int(_STEP.search(p.name).group(1)), p) for p in (run.path / "images").glob(f"val_{image}_step*.png")
             if _STEP.search(p.name)] if (run.path / "images").is_dir() else []
    return max(found) if found else None


def sample_grids(runs: Sequence[Run], spec: ReportSpec, fs: FigureSpec, path: Path, out: FigureOutput) -> Path | None:
    from matplotlib.image import imread

    def rank(r: Run) -> float:  # smaller is better; a run without a value last
        v = r.value(spec.metric, spec.higher_is_better)
        if v is None or not math.isfinite(v):
            return math.inf
        return -v if spec.higher_is_better else v

    by = fs["by"] or spec.row_and_column_keys
    panels = []
    for label, _, group in groups(runs, by):
        candidates = [r for r in group if latest_image(r, fs["image"]) is not None]
        if candidates:
            best = min(candidates, key=rank)
            panels.append((label, best, *latest_image(best, fs["image"])))
    if not panels:
        out.notes.append(f"{path.name} not drawn: no finished run has images/val_{fs['image']}_step*.png")
        return None
    cols = min(len(panels), 4)
    rows = math.ceil(len(panels) / cols)
    fig, axes = new_figure(rows, cols, panel=(3.6, 4.2))
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (label, run, step, png) in zip(axes.flat, panels):
        img = imread(png)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        value = run.value(spec.metric, spec.higher_is_better)
        shown = f"{spec.metric} {value:.{spec.decimals}f}" if value is not None else spec.metric + " -"
        ax.set_title(f"{short(label, 34)}\nseed {run.seed}, step {step}, {shown}", fontsize="small")
        ax.axis("off")
    fig.suptitle(fs["title"] or f"val {fs['image']} of the best run of each {', '.join(by)} (rows: classes)")
    return save(fig, path)
