"""What every norm layer looks like at one step, by depth: input std, DyT's alpha beside 1/std,
and DyT's saturation (share of inputs past its squash's knee: |alpha x| > 2 for tanh, 1 for
hardtanh, 4 for sigmoid; runs probed before the per-squash knee used 2 for every squash).
When a result disagrees with the paper, this is where to look first: a saturated deep layer
or an alpha that never moved says why. Beside it, alpha0 x the input std at init per DyT layer
(figures/alpha.py's init_table, once per report)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from normbench.report.figures.alpha import init_table
from normbench.report.figures.common import FigureOutput, colours, groups, new_figure, save
from normbench.report.runs import Run
from normbench.report.spec import FigureSpec, ReportSpec
from normbench.report.tables import fmt_value, markdown_table

STATS = ("input_std", "inv_std", "alpha", "saturation")


def at_step(run: Run, step, kind: str = "stats") -> list[dict]:
    """The run's probe lines of one kind at `step` ("last", or the latest probe at or before it)."""
    lines = run.probe_lines(kind)
    if not lines:
        return []
    steps = sorted({line["step"] for line in lines})
    chosen = steps[-1] if step == "last" else max([s for s in steps if s <= step], default=None)
    return [line for line in lines if line["step"] == chosen]


def _old_saturation(run: Run, line: dict) -> bool:
    """A line whose saturation was measured at |alpha x| > 2 (before the per-squash knee) for a
    squash whose knee is not 2 (tanh's is, so its old numbers stand)."""
    if line.get("saturation") is None or "saturation_knee" in line:
        return False
    norm = run.key("norm.name")
    return norm == "derf" or (norm == "dyt" and run.key("norm.squash") not in (None, "tanh"))


def layer_stats(runs: Sequence[Run], spec: ReportSpec, fs: FigureSpec, path: Path, out: FigureOutput) -> Path | None:
    by = fs["by"] or spec.row_and_column_keys
    rows = []
    for label, key, group_runs in groups(runs, by):
        per_layer: dict[tuple, list[dict]] = {}
        old_bound: set[tuple] = set()  # layers whose saturation some run measured at |alpha x| > 2, not at its knee
        for r in group_runs:
            for line in at_step(r, fs["step"]):
                per_layer.setdefault((line.get("depth_index", 0), line["layer"]), []).append(line)
                if _old_saturation(r, line):
                    old_bound.add((line.get("depth_index", 0), line["layer"]))
        for (depth, layer), lines in sorted(per_layer.items()):
            row = {"group": label, **dict(zip(by, key)), "depth_index": depth, "layer": layer, "runs": len(lines),
                   "step": lines[0]["step"]}
            for stat in STATS:
                values = [float(x[stat]) for x in lines if isinstance(x.get(stat), (int, float))]
                row[stat] = float(np.mean(values)) if values else None
            row["saturation_at_2"] = (depth, layer) in old_bound
            rows.append(row)
    if not rows:
        out.notes.append(f"{path.name} not drawn: no run has probe lines")
        return None
    labels = list(dict.fromkeys(r["group"] for r in rows))
    fig, axes = new_figure(1, 3, panel=(5.0, 4.0))
    for label, colour in zip(labels, colours(len(labels))):
        mine = [r for r in rows if r["group"] == label]
        d = [r["depth_index"] for r in mine]
        axes[0, 0].plot(d, [r["input_std"] for r in mine], "o-", color=colour, label=label)
        if any(r["alpha"] is not None for r in mine):
            axes[0, 1].plot(d, [r["alpha"] for r in mine], "o-", color=colour, label=f"{label}: alpha")
            axes[0, 1].plot(d, [r["inv_std"] for r in mine], "s--", color=colour, alpha=0.6, label=f"{label}: 1/std")
            axes[0, 2].plot(d, [100 * (r["saturation"] or 0) for r in mine], "o-", color=colour, label=label)
    step = "the last probe" if fs["step"] == "last" else f"step {fs['step']}"
    for ax, title, ylabel in zip(axes[0], ("input std by depth", "alpha (solid) and 1/std (dashed)",
                                            "DyT saturation: share past the squash's knee"),
                                 ("std of the layer input (all elements)", "value", "%")):
        ax.set_title(f"{title}, {step}")
        ax.set_xlabel("depth index (0 = first norm layer)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0, 0].set_yscale("log")
    axes[0, 1].set_yscale("log")
    for ax in axes[0]:
        if ax.lines:
            ax.legend(fontsize="x-small")
    if fs["title"]:
        fig.suptitle(fs["title"])
    out.tables[path.stem] = rows
    show = lambda v, f: "" if v is None else format(v, f)  # noqa: E731
    def sat(r: dict) -> str:
        return "" if r["saturation"] is None else f"{100 * r['saturation']:.1f} %" + (" *" if r["saturation_at_2"] else "")

    out.markdown[path.stem] = markdown_table(
        [*by, "layer", "input std", "1/std", "alpha", "saturation"],
        [[*(fmt_value(r[k]) for k in by), r["layer"], show(r["input_std"], ".3g"), show(r["inv_std"], ".3g"),
          show(r["alpha"], ".3f"), sat(r)] for r in rows],
        align=["l"] * (len(by) + 1) + ["r"] * 4)
    if any(r["saturation_at_2"] for r in rows):
        out.markdown[path.stem] += ("\n\n\\* probed before saturation was measured at each squash's knee: the share of "
                                    "\\|alpha x\\| > 2, where hardtanh's knee is 1, sigmoid's 4 and erf's 1.63")
    init_table(runs, by, out)  # alpha0 x input std at init, after this figure's own table
    return save(fig, path)
