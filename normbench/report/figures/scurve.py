"""Claim C9, LayerNorm behaves like tanh: a norm layer's input against its output before the
affine, from the probes' "scurve" samples, one colour per token, one panel per (group, layer).

Each panel shows one run of its group (the first with samples) with the scaled tanh fitted to
its points and the linear range shaded; scurve.csv gives the share of points in the linear
range (defined in normbench.report.probes) and the fit for every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import colormaps

from normbench.report.figures.common import FigureOutput, groups, layer_title, new_figure, save, short
from normbench.report.probes import as_floats, check_layers, linear_range, resolve_layer, scurve_line
from normbench.report.runs import Run
from normbench.report.spec import FigureSpec, ReportSpec
from normbench.report.tables import rel_path, fmt_value, markdown_table

MAX_GROUPS = 6  # rows of panels; the CSV still covers every run


def scurve(runs: Sequence[Run], spec: ReportSpec, fs: FigureSpec, path: Path, out: FigureOutput) -> Path | None:
    sampled = [r for r in runs if r.probe_lines("scurve")]
    if not sampled:
        out.notes.append(f"{path.name} not drawn: no run has probes.jsonl scurve lines (probe.scurve_steps)")
        return None
    check_layers(sampled, fs["layers"], f"report.figures ({fs.stem}).layers", kind="scurve")
    by = fs["by"] or spec.row_and_column_keys
    tol = fs["tolerance"]
    grouped = groups(sampled, by)
    rows, shown = [], []
    for label, key, group_runs in grouped:
        for r in group_runs:
            for selector in fs["layers"]:
                layer = resolve_layer(r, selector, kind="scurve")
                line = scurve_line(r, layer, fs["step"]) if layer else None
                if line is None:
                    continue
                x, y = as_floats(line["x"]), as_floats(line["y"])
                lr = linear_range(x, y, tol)
                rows.append({**dict(zip(by, key)), "run": rel_path(r.path, path.parent), "layer": str(selector),
                             "layer_name": layer, "norm": line.get("norm"), "step": line["step"], "tokens": len(x),
                             "points": lr.points, "linear_share": lr.share, "tanh_a": lr.a, "tanh_b": lr.b,
                             "x0": lr.x0, "linear_x_min": lr.x_range[0], "linear_x_max": lr.x_range[1]})
        first = next((r for r in group_runs if any(resolve_layer(r, s, "scurve") for s in fs["layers"])), None)
        if first is not None:
            shown.append((label, first))
    if len(shown) > MAX_GROUPS:
        out.notes.append(f"{path.name} shows the first {MAX_GROUPS} of {len(shown)} groups; scurve.csv has all")
        shown = shown[:MAX_GROUPS]

    fig, axes = new_figure(len(shown), len(fs["layers"]), panel=(4.8, 4.0))
    for row_axes, (label, r) in zip(axes, shown):
        for ax, selector in zip(row_axes, fs["layers"]):
            layer = resolve_layer(r, selector, kind="scurve")
            line = scurve_line(r, layer, fs["step"]) if layer else None
            if line is None:
                ax.set_axis_off()
                ax.set_title(f"{short(label, 30)}: no sample of {selector}", fontsize="small")
                continue
            x, y = as_floats(line["x"]), as_floats(line["y"])
            lr = linear_range(x, y, tol)
            x_min, x_max = float(np.nanmin(np.concatenate(x))), float(np.nanmax(np.concatenate(x)))
            lo_x, hi_x = lr.x_range
            ax.axvspan(max(lo_x, x_min), min(hi_x, x_max), color="#bbbbbb", alpha=0.3, lw=0,
                       label=f"linear range: |b (x - x0)| <= {lr.u_star:.3g}")
            grid = np.linspace(x_min, x_max, 200)
            ax.plot(grid, lr.a * np.tanh(lr.b * (grid - lr.x0)), color="black", lw=1.0, ls="--",
                    label=f"{lr.a:.3g} tanh({lr.b:.3g} (x - x0)), x0 = {lr.x0:.2g}")
            cmap = colormaps["tab10" if len(x) <= 10 else "tab20"]
            for t, (xs, ys, inside) in enumerate(zip(x, y, lr.inside)):
                xs, ys, colour = np.asarray(xs), np.asarray(ys), cmap(t % cmap.N)
                ax.scatter(xs[inside], ys[inside], s=7, color=colour, alpha=0.8, lw=0)
                ax.scatter(xs[~inside], ys[~inside], s=16, facecolors="none", edgecolors=colour, lw=0.9)
            ax.legend(fontsize="x-small", loc="upper left")
            ax.set_title(f"{short(label, 30)}: {layer_title(selector, {layer})}\nstep {line['step']}, "
                         f"linear range {100 * lr.share:.1f} % of {lr.points} points", fontsize="small")
            ax.set_xlabel("input x")
            ax.set_ylabel(f"{line.get('norm', 'norm')} output before the affine")
            ax.grid(alpha=0.3)
    fig.suptitle(fs["title"] or "Norm input vs output before the affine, one colour per token\ndashed: a scaled tanh "
                 f"fitted to all points; grey: its linear range (within {100 * tol:g} % of its tangent); hollow: outside",
                 fontsize="medium")
    out.tables[path.stem] = rows
    summary = {}
    for row in rows:
        summary.setdefault((tuple(row[k] for k in by), row["layer"], row["layer_name"]), []).append(row["linear_share"])
    out.markdown[path.stem] = markdown_table(
        [*by, "layer", "runs", f"share in the linear range (tolerance {tol:g}), mean over runs"],
        [[*(fmt_value(v) for v in key), f"{sel} ({name})", str(len(shares)), f"{100 * float(np.mean(shares)):.1f} %"]
         for (key, sel, name), shares in summary.items()],
        align=["l"] * len(by) + ["l", "r", "r"])
    return save(fig, path)
