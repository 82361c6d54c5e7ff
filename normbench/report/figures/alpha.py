"""Claim C4, alpha tracks 1/std: over training for chosen layers (alpha_std), and across all
DyT layers at the end of training (alpha_vs_inv_std, with Pearson's r), each against both
stds a probe measures (over all input elements, and per token; the paper does not say which).
Beside them, alpha0 x the input std at init per layer (init_table): where training starts."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np

from normbench.report.figures.common import (FigureOutput, colours, facet_grid, groups, layer_title, mean_band,
                                             new_figure, save)
from normbench.report.probes import alpha_points, check_layers, init_points, layer_series, pearson_r, resolve_layer
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
    rows, facets = [], []
    for colour, (label, key, group_runs) in zip(palette, grouped):
        for selector in fs["layers"]:
            names: set[str] = set()
            alphas, invs, tokens = [], [], []
            for r in group_runs:
                layer = resolve_layer(r, selector)
                if layer is None:
                    continue
                names.add(layer)
                a, i = layer_series(r, layer, "alpha"), layer_series(r, layer, "inv_std")
                t = layer_series(r, layer, "inv_token_std")  # empty for runs probed before it
                if a[0]:
                    alphas.append(a)
                if i[0]:
                    invs.append(i)
                if t[0]:
                    tokens.append(t)
            r_val = r_tok = None
            if alphas and invs:
                r_val = _pearson_common(alphas, invs)
            if alphas and tokens:
                r_tok = _pearson_common(alphas, tokens)
            if alphas or invs:
                rows.append({**dict(zip(by, key)), "layer": str(selector), "layer_name": ", ".join(sorted(names)),
                             "runs": max(len(alphas), len(invs)), "pearson_r_over_training": r_val,
                             "pearson_r_token_over_training": r_tok})
            # a panel per (group, layer) whose alpha moves; LayerNorm (no alpha) and a fixed alpha
            # (f(x) variants: a flat line) are rows of the CSV only
            if any(_moves(values) for _, values in alphas):
                facets.append((label, colour, selector, names, alphas, invs, tokens, r_val, r_tok))
    out.tables[path.stem] = rows
    init_table(probed, by, out)
    if not facets:
        out.notes.append(f"{path.name} not drawn: no run has a learnable alpha in its probes")
        return None
    without = len({tuple(row[k] for k in by) for row in rows}) - len({label for label, *_ in facets})
    # one panel per (group, layer), each with its own 1/std axis (models differ in scale by 10x), in
    # rows of a few; past the cap, the panels with the most runs (the main grid's seeds, not a
    # one-seed lr search) are drawn, in table order
    fig, axes = facet_grid(len(facets), panel=(5.4, 3.7))
    if len(facets) > len(axes) or without:
        cut = len(facets) > len(axes)
        out.notes.append(f"{path.name} shows {f'{len(axes)} of {len(facets)}' if cut else f'the {len(facets)}'} "
                         "(group, layer) panels with a learnable alpha" + (", those with the most runs" if cut else "")
                         + (f"; {without} group(s) without one (no alpha, or alpha fixed) are not drawn" if without
                            else "") + f"; {path.stem}.csv has every group")
    keep = sorted(sorted(range(len(facets)), key=lambda i: -len(facets[i][4]))[:len(axes)])
    for ax, (label, colour, selector, names, alphas, invs, tokens, r_val, r_tok) in zip(
            axes, [facets[i] for i in keep]):
        twin = ax.twinx()
        s, m, lo, hi = mean_band(alphas)
        ax.plot(s, m, color=colour, lw=1.8, label=f"alpha (n={len(alphas)})")
        if len(alphas) > 1:
            ax.fill_between(s, lo, hi, color=colour, alpha=0.15, lw=0)
        if invs:
            s2, m2, _, _ = mean_band(invs)
            twin.plot(s2, m2, color="black", lw=1.2, ls="--", label="1/std")
        if tokens:
            s3, m3, _, _ = mean_band(tokens)
            twin.plot(s3, m3, color="grey", lw=1.2, ls=":", label="1/token std")
        r_text = "" if r_val is None else f"; r = {r_val:.2f}"
        r_text += "" if r_tok is None else f" (token: {r_tok:.2f})"
        # the whole group label, wrapped (its last key, often the lr, tells two panels apart)
        ax.set_title(f"{textwrap.fill(label, 62)}\n{layer_title(selector, names)}{r_text}", fontsize="small")
        ax.set_xlabel("step")
        ax.set_ylabel("alpha (solid)")
        twin.set_ylabel("1 / input std")
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        h2, l2 = twin.get_legend_handles_labels()
        ax.legend(handles + h2, labels + l2, fontsize="x-small", loc="best")
    fig.suptitle(fs["title"] or "alpha (solid, left axis) and 1/std of the layer input (right axis; dashed: over "
                 "all elements, dotted: per token), mean over seeds", fontsize="medium")
    return save(fig, path)


def _moves(values) -> bool:
    """Whether a series changes (a learnable alpha), ignoring non-finite points."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return v.size > 1 and float(v.max() - v.min()) > 0


def _pearson_common(a_series, b_series) -> float | None:
    """Pearson's r of two mean-over-seeds curves at the steps both have."""
    s, m, _, _ = mean_band(a_series)
    s2, m2, _, _ = mean_band(b_series)
    _, ia, ib = np.intersect1d(s, s2, return_indices=True)
    return pearson_r(m[ia], m2[ib])


X_AXES = (("inv_std", "1 / std of the layer input (all elements)"),
          ("inv_token_std", "1 / mean per-token std of the layer input (over channels)"))


def alpha_vs_inv_std(runs: Sequence[Run], spec: ReportSpec, fs: FigureSpec, path: Path, out: FigureOutput) -> Path | None:
    """alpha against 1/std, left over all input elements, right per token (the paper does not
    say which); runs probed before the per-token std have no point on the right."""
    by = fs["by"] or spec.row_and_column_keys
    points = []
    for label, key, group_runs in groups(runs, by):
        for r in group_runs:
            for p in alpha_points(r, fs["step"]):
                points.append({"group": label, **dict(zip(by, key)), "run": rel_path(r.path, path.parent), "variant": r.variant, **p})
    if not points:
        out.notes.append(f"{path.name} not drawn: no run has DyT probe lines with alpha and inv_std")
        init_table(runs, by, out)
        return None
    labels = list(dict.fromkeys(p["group"] for p in points))
    markers = "osD^v<>ph*"
    fig, axes = new_figure(1, 2, panel=(6.6, 5.0))
    depth = np.array([p["depth_index"] if isinstance(p["depth_index"], (int, float)) else np.nan for p in points])
    lo, hi = (np.nanmin(depth), np.nanmax(depth)) if np.isfinite(depth).any() else (0, 1)
    r_by: dict[tuple[str, str], float | None] = {}
    step = "last probe step" if fs["step"] == "last" else f"step <= {fs['step']}"
    scatter = None
    for ax, (xkey, xlabel) in zip(axes[0], X_AXES):
        for i, label in enumerate(labels):
            mine = [p for p in points if p["group"] == label and p[xkey] is not None]
            r_by[label, xkey] = r = pearson_r([p[xkey] for p in mine], [p["alpha"] for p in mine])
            if mine:
                scatter = ax.scatter([p[xkey] for p in mine], [p["alpha"] for p in mine],
                                     c=[p["depth_index"] for p in mine], cmap="plasma", vmin=lo, vmax=max(hi, lo + 1),
                                     marker=markers[i % len(markers)], s=34,
                                     edgecolors="black", linewidths=0.4,
                                     label=f"{label}: r = {'n/a' if r is None else f'{r:.3f}'} ({len(mine)} layers)")
        have = [p for p in points if p[xkey] is not None]
        r_by["all", xkey] = r_all = pearson_r([p[xkey] for p in have], [p["alpha"] for p in have])
        ax.set_title(f"alpha vs {'1/std' if xkey == 'inv_std' else '1/token std'} across DyT layers ({step}); "
                     f"Pearson r = {'n/a' if r_all is None else f'{r_all:.3f}'}", fontsize="medium")
        if not have:
            ax.text(0.5, 0.5, "no per-token std in these runs' probes\n(probed before it was measured)",
                    ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("alpha")
        ax.grid(alpha=0.3)
        if have:
            ax.legend(fontsize="small")
    fig.colorbar(scatter, ax=list(axes[0]), label="depth index (0 = first norm layer)")
    if fs["title"]:
        fig.suptitle(fs["title"])
    corr_rows = []
    for label in labels + (["all"] if len(labels) > 1 else []):
        mine = [p for p in points if label == "all" or p["group"] == label]
        corr_rows.append({**{k: "all" if label == "all" else mine[0][k] for k in by},
                          "runs": len({p["run"] for p in mine}), "points": len(mine),
                          "pearson_r": r_by[label, "inv_std"],
                          "points_token": sum(p["inv_token_std"] is not None for p in mine),
                          "pearson_r_token": r_by[label, "inv_token_std"]})
    out.tables[path.stem] = points
    out.tables[f"{path.stem}_correlation"] = corr_rows
    r_text = lambda r: "n/a" if r is None else f"{r:.3f}"  # noqa: E731
    out.markdown[f"{path.stem}_correlation"] = markdown_table(
        [*by, "runs", "layers (points)", "Pearson r (alpha vs 1/std)", "Pearson r (alpha vs 1/token std)"],
        [[*(fmt_value(row[k]) for k in by), str(row["runs"]), str(row["points"]), r_text(row["pearson_r"]),
          r_text(row["pearson_r_token"]) if row["points_token"] else "n/a (not probed)"] for row in corr_rows],
        align=["l"] * len(by) + ["r", "r", "r", "r"])
    init_table(runs, by, out)
    return save(fig, path)


# -- alpha0 x std of the input at init ------------------------------------------------
INIT_TABLE = "alpha0_input_std"
INIT_NOTE = ("alpha0 x std of the input at init (the probe at step 0, before any training step): the scale of the "
             "squash's argument alpha0 * x when training starts (tanh leaves its linear range near 0.6 and saturates "
             "past 2, hardtanh past 1, sigmoid past 4); token std: the mean over tokens of each token's std over its channels")


def init_table(runs: Sequence[Run], by: Sequence[str], out: FigureOutput) -> None:
    """The table of alpha0 x input std at step 0 per DyT-like layer, once per report (the first
    alpha or layer figure that asks writes it): all layers in its CSV, the first, middle and last
    of each group in table.md. A run without a probe at step 0 is counted in a note."""
    if INIT_TABLE in out.tables:
        return
    out.tables[INIT_TABLE] = []  # asked once: a later figure neither redoes it nor repeats its note
    rows: dict[tuple, dict] = {}
    without = 0
    for label, key, group_runs in groups(runs, by):
        for r in group_runs:
            points = init_points(r)
            if not points:
                without += any(line.get("alpha") is not None for line in r.probe_lines("stats"))
                continue
            for p in points:
                row = rows.setdefault((label, p["depth_index"], p["layer"], p["alpha0"]), {
                    "group": label, **dict(zip(by, key)), "depth_index": p["depth_index"], "layer": p["layer"],
                    "alpha0": p["alpha0"], "runs": 0, "_std": [], "_x": [], "_tok": [], "_xtok": []})
                row["runs"] += 1
                row["_std"].append(p["input_std"])
                row["_x"].append(p["alpha0_x_std"])
                if p["token_std"] is not None:
                    row["_tok"].append(p["token_std"])
                    row["_xtok"].append(p["alpha0_x_token_std"])
    if without:
        out.notes.append(f"{INIT_TABLE}: {without} run(s) with alpha have no probe at step 0 (probed before the probe "
                         "at init existed), left out")
    if not rows:
        return
    mean = lambda v: float(np.mean(v)) if v else None  # noqa: E731
    table = []
    for row in rows.values():
        table.append({**{k: v for k, v in row.items() if not k.startswith("_")}, "input_std": mean(row["_std"]),
                      "alpha0_x_std": mean(row["_x"]), "token_std": mean(row["_tok"]),
                      "alpha0_x_token_std": mean(row["_xtok"])})
    order = {label: i for i, label in enumerate(dict.fromkeys(r["group"] for r in table))}
    depth = lambda r: r["depth_index"] if isinstance(r["depth_index"], (int, float)) else np.inf  # noqa: E731
    table.sort(key=lambda r: (order[r["group"]], r["alpha0"], depth(r), str(r["layer"])))
    shown = []
    for label in order:
        for alpha0 in dict.fromkeys(r["alpha0"] for r in table if r["group"] == label):
            mine = [r for r in table if r["group"] == label and r["alpha0"] == alpha0]
            shown += [mine[i] for i in sorted({0, (len(mine) - 1) // 2, len(mine) - 1})]
    show = lambda v, f: "n/a" if v is None else format(v, f)  # noqa: E731
    out.tables[INIT_TABLE] = table
    out.markdown[INIT_TABLE] = INIT_NOTE + ("" if len(shown) == len(table) else
                                            f"; the first, middle and last layer shown, all in {INIT_TABLE}.csv") + \
        ".\n\n" + markdown_table(
            [*by, "layer", "alpha0", "runs", "input std", "alpha0 x std", "token std", "alpha0 x token std"],
            [[*(fmt_value(r[k]) for k in by), str(r["layer"]), f"{r['alpha0']:.3g}", str(r["runs"]),
              show(r["input_std"], ".3g"), show(r["alpha0_x_std"], ".3g"), show(r["token_std"], ".3g"),
              show(r["alpha0_x_token_std"], ".3g")] for r in shown],
            align=["l"] * (len(by) + 1) + ["r"] * 6)
