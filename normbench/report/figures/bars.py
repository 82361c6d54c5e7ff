"""Final metric per group as bars: mean over seeds, ±std error bar, one dot per seed;
a failed (all diverged) bar is hatched and labelled like the table's cell."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from normbench.report.figures.common import DIVERGED, FigureOutput, colours, new_figure, save, short
from normbench.report.runs import Run
from normbench.report.spec import FigureSpec, ReportSpec
from normbench.report.tables import build_cells, group_label


def final_metric_bars(runs: Sequence[Run], spec: ReportSpec, fs: FigureSpec, path: Path, out: FigureOutput) -> Path | None:
    by = fs["by"] or spec.row_and_column_keys
    metric = fs["metric"] or spec.metric
    cells = [c for c in build_cells(runs, spec, row_keys=by, col_keys=[], metric=metric) if c.mean is not None]
    if not cells:
        out.notes.append(f"{path.name} not drawn: no finished run has {metric}")
        return None
    fig, axes = new_figure(panel=(max(4.5, 0.9 * len(cells) + 2), 4.4))
    ax = axes[0, 0]
    for i, (c, colour) in enumerate(zip(cells, colours(len(cells)))):
        failed = c.status != "ok"
        ax.bar(i, c.mean, yerr=c.std or 0, color=colour, alpha=0.55 if failed else 0.85, capsize=4,
               hatch="//" if failed else None, edgecolor="black" if failed else colour)
        for r in c.runs:  # one mark per seed: a dot, or ✕ for a diverged run's best value
            v = r.value(metric, spec.higher_is_better) if r.complete else None
            if v is not None:
                ax.plot([i], [v], "x" if r.status == "diverged" else "o", color="black",
                        ms=6 if r.status == "diverged" else 3.5, mew=1.5, zorder=3)
        label = f"{c.mean:.{spec.decimals}f}"
        if c.status == "failed":
            label += f"\n{DIVERGED} failed"
        elif c.status == "mixed":
            label += f"\n{c.n_diverged}/{c.n} {DIVERGED}"
        ax.annotate(label, (i, c.mean + (c.std or 0)), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize="small")
    lo = min(min(c.values) for c in cells)
    hi = max(max(c.values) for c in cells)
    pad = (hi - lo) * 0.25 or abs(hi) * 0.05 or 1.0
    ax.set_ylim(max(0.0, lo - pad) if lo >= 0 else lo - pad, hi + pad)  # zoom to where the differences are
    ax.set_xticks(range(len(cells)), [short(group_label(by, c.row), 28) for c in cells],
                  rotation=30 if len(cells) > 4 else 0, ha="right" if len(cells) > 4 else "center")
    ax.set_ylabel(f"{metric} (final; diverged: best before)")
    ax.set_title(fs["title"] or f"{metric} by {', '.join(by)}\nmean ± std over seeds; dots: seeds, {DIVERGED}: diverged")
    ax.grid(axis="y", alpha=0.3)
    return save(fig, path)
