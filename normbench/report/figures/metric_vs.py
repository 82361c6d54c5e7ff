"""A study's metric against one numeric config key (run length, data budget, width): a line per
group, mean over seeds with a ±std band, one dot per seed, so a gap that closes or widens with
the key is seen at a glance (the length study's "does the LN-DyT gap close with training?")."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from normbench.report.figures.common import DIVERGED, FigureOutput, colours, new_figure, save, short
from normbench.report.runs import Run
from normbench.report.spec import FigureSpec, ReportSpec
from normbench.report.tables import build_cells, group_label


def metric_vs(runs: Sequence[Run], spec: ReportSpec, fs: FigureSpec, path: Path, out: FigureOutput) -> Path | None:
    x_key, metric = fs["x"], fs["metric"] or spec.metric
    by = [k for k in (fs["by"] or spec.row_and_column_keys) if k != x_key]
    cells = [c for c in build_cells(runs, spec, row_keys=by, col_keys=[x_key], metric=metric)
             if c.mean is not None and isinstance(c.col[0], (int, float))]
    if not cells:
        out.notes.append(f"{path.name} not drawn: no finished run has {metric} and a number for {x_key}")
        return None
    groups: dict[tuple, list] = {}
    for c in cells:
        groups.setdefault(c.row, []).append(c)
    fig, axes = new_figure(panel=(6.5, 4.4))
    ax = axes[0, 0]
    for (row, line), colour in zip(groups.items(), colours(len(groups))):
        line.sort(key=lambda c: c.col[0])
        xs = [c.col[0] for c in line]
        means = [c.mean for c in line]
        stds = [c.std or 0.0 for c in line]
        ax.plot(xs, means, "-o", color=colour, ms=4, label=short(group_label(by, row), 30))
        ax.fill_between(xs, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                        color=colour, alpha=0.15)
        for c in line:
            for r in c.runs:
                v = r.value(metric, spec.higher_is_better) if r.complete else None
                if v is not None:
                    ax.plot([c.col[0]], [v], "x" if r.status == "diverged" else ".", color=colour, ms=5)
    if fs["logx"]:
        ax.set_xscale("log")
    ax.set_xlabel(x_key)
    ax.set_ylabel(f"{metric} (final; {DIVERGED} diverged: best before)")
    ax.set_title(fs["title"] or f"{metric} against {x_key}\nmean ± std over seeds; dots: seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return save(fig, path)
