"""Claim C4, alpha tracks 1/std: over training for chosen layers (alpha_std), and across all
DyT layers at the end of training (alpha_vs_inv_std, with Pearson's r)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from normbench.report.figures.common import FigureOutput, colours, groups, layer_title, mean_band, new_figure, save
from normbench.report.probes import alpha_points, check_layers, layer_series, pearson_r, resolve_layer
from normbench.report.runs import Run
from normbench.report.spec import FigureSpec, ReportSpec
from normbench.report.tables import rel_path, fmt_value, markdown_table


def alpha_std(runs: Sequence[Run], spec: ReportSpec, fs: FigureSpec, path: Path, out: FigureOutput) -> Path | None:
    probed = [r for r in runs if r.probe_lines("stats")]
    if not probed:
        out.notes.append(f"{path.name} not drawn: no run has probes.jsonl stats lines")
        return None
    check_layers(probed, fs["layers"], f"report.figures ({fs.stem}).layers")
    by = fs["by"] or spec.row_and_column_keys
    grouped = groups(probed, by)
    palette = colours(len(grouped))
    # one panel per (group, layer), each with its own 1/std axis: models differ in scale by 10x
    fig, axes = new_figure(len(grouped), len(fs["layers"]), panel=(6.2, 3.6))
    rows = []
    for row_axes, colour, (label, key, group_runs) in zip(axes, palette, grouped):
        for ax, selector in zip(row_axes, fs["layers"]):
            twin = ax.twinx()
            names: set[str] = set()
            alphas, invs = [], []
            for r in group_runs:
                layer = resolve_layer(r, selector)
                if layer is None:
                    continue
                names.add(layer)
                a, i = layer_series(r, layer, "alpha"), layer_series(r, layer, "inv_std")
                if a[0]:
                    alphas.append(a)
                if i[0]:
                    invs.append(i)
            if alphas:
                s, m, lo, hi = mean_band(alphas)
                ax.plot(s, m, color=colour, lw=1.8, label=f"alpha (n={len(alphas)})")
                if len(alphas) > 1:
                    ax.fill_between(s, lo, hi, color=colour, alpha=0.15, lw=0)
            if invs:
                s2, m2, _, _ = mean_band(invs)
                twin.plot(s2, m2, color="black", lw=1.2, ls="--", label="1/std")
            r_val = None
            if alphas and invs:
                common, ia, ib = np.intersect1d(s, s2, return_indices=True)
                r_val = pearson_r(m[ia], m2[ib])
            if alphas or invs:
                rows.append({**dict(zip(by, key)), "layer": str(selector), "layer_name": ", ".join(sorted(names)),
                             "runs": max(len(alphas), len(invs)), "pearson_r_over_training": r_val})
            r_text = "" if r_val is None else f"; r = {r_val:.2f}"
            ax.set_title(f"{label}: {layer_title(selector, names)}{r_text}", fontsize="medium")
            ax.set_xlabel("step")
            ax.set_ylabel("alpha (solid)")
            twin.set_ylabel("1 / std of the input (dashed)")
            ax.grid(alpha=0.3)
            handles, labels = ax.get_legend_handles_labels()
            h2, l2 = twin.get_legend_handles_labels()
            if handles or h2:
                ax.legend(handles + h2, labels + l2, fontsize="small", loc="best")
    fig.suptitle(fs["title"] or "alpha (solid, left axis) and 1/std of the layer input (dashed, right axis), mean over seeds")
    out.tables[path.stem] = rows
    return save(fig, path)


def alpha_vs_inv_std(runs: Sequence[Run], spec: ReportSpec, fs: FigureSpec, path: Path, out: FigureOutput) -> Path | None:
    by = fs["by"] or spec.row_and_column_keys
    points = []
    for label, key, group_runs in groups(runs, by):
        for r in group_runs:
            for p in alpha_points(r, fs["step"]):
                points.append({"group": label, **dict(zip(by, key)), "run": rel_path(r.path, path.parent), "variant": r.variant, **p})
    if not points:
        out.notes.append(f"{path.name} not drawn: no run has DyT probe lines with alpha and inv_std")
        return None
    labels = list(dict.fromkeys(p["group"] for p in points))
    markers = "osD^v<>ph*"
    fig, axes = new_figure(panel=(6.6, 5.0))
    ax = axes[0, 0]
    depth = np.array([p["depth_index"] if isinstance(p["depth_index"], (int, float)) else np.nan for p in points])
    lo, hi = (np.nanmin(depth), np.nanmax(depth)) if np.isfinite(depth).any() else (0, 1)
    corr_rows, scatter = [], None
    for i, label in enumerate(labels):
        mine = [p for p in points if p["group"] == label]
        x = [p["inv_std"] for p in mine]
        y = [p["alpha"] for p in mine]
        r = pearson_r(x, y)
        scatter = ax.scatter(x, y, c=[p["depth_index"] for p in mine], cmap="plasma", vmin=lo, vmax=max(hi, lo + 1),
                             marker=markers[i % len(markers)], s=34, edgecolors="black", linewidths=0.4,
                             label=f"{label}: r = {'n/a' if r is None else f'{r:.3f}'} ({len(mine)} layers)")
        corr_rows.append({**{k: mine[0][k] for k in by}, "runs": len({p["run"] for p in mine}), "points": len(mine),
                          "pearson_r": r})
    r_all = pearson_r([p["inv_std"] for p in points], [p["alpha"] for p in points])
    if len(labels) > 1:
        corr_rows.append({**{k: "all" for k in by}, "runs": len({p["run"] for p in points}), "points": len(points),
                          "pearson_r": r_all})
    fig.colorbar(scatter, ax=ax, label="depth index (0 = first norm layer)")
    step = "last probe step" if fs["step"] == "last" else f"step <= {fs['step']}"
    ax.set_title(fs["title"] or f"alpha vs 1/std across DyT layers ({step}); Pearson r = "
                 + ("n/a" if r_all is None else f"{r_all:.3f}"))
    ax.set_xlabel("1 / std of the layer input")
    ax.set_ylabel("alpha")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    out.tables[path.stem] = points
    out.tables[f"{path.stem}_correlation"] = corr_rows
    out.markdown[f"{path.stem}_correlation"] = markdown_table(
        [*by, "runs", "layers (points)", "Pearson r (alpha vs 1/std)"],
        [[*(fmt_value(row[k]) for k in by), str(row["runs"]), str(row["points"]),
          "n/a" if row["pearson_r"] is None else f"{row['pearson_r']:.3f}"] for row in corr_rows],
        align=["l"] * len(by) + ["r", "r", "r"])
    return save(fig, path)
