"""How far apart two training curves are, as numbers: the gap between a group's curve and a
reference group's, over training.

The paper calls the LN and DyT loss curves "highly aligned" without a number; this figure
gives one. Per pair (label, reference): each group's mean-over-seeds curve, restricted to the
steps both logged, smoothed by a trailing moving average over `smooth` logged points (the
first points average what there is so far), and the gap = smoothed label - smoothed
reference, drawn against step. Its table, per pair: mean |gap|, the same relative to the
reference's mean smoothed value, the gap at the last common step, and max |gap|.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from normbench.errors import ReportError
from normbench.report.figures.common import DIVERGED, FigureOutput, colours, groups, mean_band, new_figure, save
from normbench.report.runs import Run, split_metric
from normbench.report.spec import FigureSpec, ReportSpec
from normbench.report.tables import markdown_table


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average: point i is the mean of points max(0, i - window + 1) .. i."""
    sums = np.cumsum(np.concatenate([[0.0], values]))
    i = np.arange(len(values))
    start = np.maximum(0, i - window + 1)
    return (sums[i + 1] - sums[start]) / (i + 1 - start)


def gap_row(label: str, ref: str, steps_a, mean_a, steps_b, mean_b, window: int) -> dict | None:
    """The numbers of one pair, or None when the two curves share no step. The curves are cut
    to their common steps before smoothing, so both are averaged over the same points."""
    common = np.intersect1d(steps_a, steps_b)
    if len(common) == 0:
        return None
    a = smooth(np.asarray(mean_a)[np.isin(steps_a, common)], window)
    b = smooth(np.asarray(mean_b)[np.isin(steps_b, common)], window)
    gap = a - b
    ref_mean = float(np.mean(b))
    mean_abs = float(np.mean(np.abs(gap)))
    return {"label": label, "reference": ref, "points": len(common), "first_step": int(common[0]),
            "last_step": int(common[-1]), "mean_abs_gap": mean_abs,
            # relative to the reference's size: |mean| so that it stays a non-negative share
            "relative_gap": mean_abs / abs(ref_mean) if ref_mean else None,
            "final_gap": float(gap[-1]), "max_abs_gap": float(np.max(np.abs(gap))),
            "steps": common, "gap": gap}


def curve_gap(runs: Sequence[Run], spec: ReportSpec, fs: FigureSpec, path: Path, out: FigureOutput) -> Path | None:
    split, name = split_metric(fs["metric"], fs["split"])
    metric = f"{split}/{name}"
    by = fs["by"]
    curves: dict[str, tuple] = {}  # label -> (steps, mean, runs with the metric, of them diverged)
    for label, _, group_runs in groups(runs, by):
        series = [(r, *r.series(name, split)) for r in group_runs]
        series = [(r, s, v) for r, s, v in series if s]
        steps, mean, _, _ = mean_band([(s, v) for _, s, v in series]) if series else ([], [], None, None)
        curves[label] = (np.asarray(steps), np.asarray(mean), len(series), sum(r.status == "diverged" for r, _, _ in series))
    # A pair whose label has no finished runs is skipped with a note (a study still running, a
    # smoke scale with fewer variants); when no pair has both labels, it is an error (a typo, a wrong `by`).
    found = [p for p in fs["pairs"] if all(label in curves for label in p)]
    for i, pair in enumerate(fs["pairs"]):
        missing = [label for label in pair if label not in curves]
        if missing:
            message = (f"{path.stem}: pairs[{i}] = {pair}: label {missing[0]!r} is no group of "
                       f"by = [{', '.join(by)}] among the finished runs; labels: {', '.join(curves)}")
            if not found:
                raise ReportError(message)
            out.notes.append(message + " (pair skipped)")
    rows = []
    for label, ref in found:
        (sa, ma, na, da), (sb, mb, nb, db) = curves[label], curves[ref]
        row = gap_row(label, ref, sa, ma, sb, mb, fs["smooth"]) if na and nb else None
        if row is None:
            out.notes.append(f"{path.name}: {label} vs {ref} not drawn: no common step with finite {metric}")
            continue
        rows.append({**row, "n_label": na, "n_reference": nb, "diverged_label": da, "diverged_reference": db})
    if not rows:
        return None
    fig, axes = new_figure()
    ax = axes[0, 0]
    ax.axhline(0.0, color="black", lw=0.8)
    for row, colour in zip(rows, colours(len(rows))):
        div = sum((row["diverged_label"], row["diverged_reference"]))
        text = (f"{row['label']} − {row['reference']} (n={row['n_label']}/{row['n_reference']}"
                + (f", {div} {DIVERGED}" if div else "") + f"; mean |gap| {row['mean_abs_gap']:.3g}"
                + (f", {100 * row['relative_gap']:.1f} %" if row["relative_gap"] is not None else "") + ")")
        ax.plot(row["steps"], row["gap"], color=colour, lw=1.6, label=text)
    ax.set_title(fs["title"] or f"gap in {metric}: label − reference\nmeans over seeds, moving average of {fs['smooth']} points")
    ax.set_xlabel("step")
    ax.set_ylabel(f"Δ {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    keep = ("label", "reference", "n_label", "n_reference", "diverged_label", "diverged_reference", "points",
            "first_step", "last_step", "mean_abs_gap", "relative_gap", "final_gap", "max_abs_gap")
    out.tables[path.stem] = [{k: r[k] for k in keep} for r in rows]  # the curves stay in the PNG
    rel = lambda v: "" if v is None else f"{100 * v:.2f} %"  # noqa: E731
    out.markdown[path.stem] = markdown_table(
        ["label", "reference", "n", f"mean |gap| of {metric}", "relative to reference", "final gap", "max |gap|"],
        [[r["label"], r["reference"], f"{r['n_label']}/{r['n_reference']}", f"{r['mean_abs_gap']:.4f}",
          rel(r["relative_gap"]), f"{r['final_gap']:+.4f}", f"{r['max_abs_gap']:.4f}"] for r in rows],
        align=["l", "l", "r", "r", "r", "r", "r"]) + (
        f"\n\nGap = label - reference of the mean-over-seeds curves on their common steps, each smoothed by a "
        f"trailing moving average of {fs['smooth']} logged points; relative = mean |gap| / mean of the reference's "
        f"smoothed curve; final gap at the last common step.")
    return save(fig, path)
