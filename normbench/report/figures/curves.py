"""Loss (or any metric) curves over training: one line per group, the mean over its seeds
with a min-max (or ±std) band; a diverged run's last finite point is marked with ✕."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from normbench.report.figures.common import DIVERGED, FigureOutput, colours, groups, last_finite, mean_band, new_figure, save
from normbench.report.runs import Run, split_metric
from normbench.report.spec import FigureSpec, ReportSpec


def _use_log(metric: str, logy, values: np.ndarray) -> bool:
    if logy in (True, False):
        return logy
    # auto: losses span decades early in training and the late differences are what matter
    positive = values[np.isfinite(values)]
    return "loss" in metric and len(positive) > 0 and bool((positive > 0).all()) and positive.max() / positive.min() > 3


def loss_curves(runs: Sequence[Run], spec: ReportSpec, fs: FigureSpec, path: Path, out: FigureOutput) -> Path | None:
    split, name = split_metric(fs["metric"], fs["split"])
    metric = f"{split}/{name}"
    by = fs["by"] or spec.row_and_column_keys
    grouped = groups(runs, by)
    fig, axes = new_figure()
    ax = axes[0, 0]
    drawn = []
    for colour, (label, _, group_runs) in zip(colours(len(grouped)), grouped):
        series = [(r, *r.series(name, split)) for r in group_runs]
        series = [(r, s, v) for r, s, v in series if s]
        if not series:
            continue
        steps, mean, lo, hi = mean_band([(s, v) for _, s, v in series], fs["band"])
        if len(steps) == 0:
            continue
        n_div = sum(r.status == "diverged" for r, _, _ in series)
        text = f"{label} (n={len(series)}" + (f", {n_div} {DIVERGED} diverged" if n_div else "") + ")"
        ax.plot(steps, mean, color=colour, lw=1.6, label=text)
        if fs["band"] != "none" and len(series) > 1:
            ax.fill_between(steps, lo, hi, color=colour, alpha=0.18, lw=0)
        for r, s, v in series:
            end = last_finite(s, v) if r.status == "diverged" else None
            if end:
                ax.plot([end[0]], [end[1]], marker="x", ms=9, mew=2.2, color=colour, ls="none")
        drawn.append(mean)
    if not drawn:
        out.notes.append(f"{path.name} not drawn: no run logged {metric} in metrics.jsonl")
        return None
    if _use_log(name, fs["logy"], np.concatenate(drawn)):
        ax.set_yscale("log")
    band = {"minmax": "band: min-max over seeds", "std": "band: ±1 std over seeds", "none": "no band"}[fs["band"]]
    ax.set_title(fs["title"] or f"{metric} over training\nmean over seeds; {band}; {DIVERGED}: a run diverged")
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", title=", ".join(by) if by != ["variant"] else None)
    return save(fig, path)
