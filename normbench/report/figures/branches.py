"""What each residual branch adds to the stream at one step, by depth: the stream's std where the
branch reads it, and the branch's output std relative to it (`branch` probe lines). It answers
"which branch grows the residual stream": a branch whose ratio stays high deep in the model keeps
adding to a stream no norm rescales."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from normbench.report.figures.common import FigureOutput, colours, groups, new_figure, save
from normbench.report.figures.layers import at_step
from normbench.report.runs import Run
from normbench.report.spec import FigureSpec, ReportSpec
from normbench.report.tables import fmt_value, markdown_table

STATS = ("stream_std", "branch_std", "branch_ratio")


def branch_stats(runs: Sequence[Run], spec: ReportSpec, fs: FigureSpec, path: Path, out: FigureOutput) -> Path | None:
    by = fs["by"] or spec.row_and_column_keys
    rows = []
    for label, key, group_runs in groups(runs, by):
        per_branch: dict[tuple, list[dict]] = {}
        for r in group_runs:
            for line in at_step(r, fs["step"], "branch"):
                per_branch.setdefault((line["depth_index"], line["layer"]), []).append(line)
        for (index, layer), lines in sorted(per_branch.items()):
            row = {"group": label, **dict(zip(by, key)), "index": index, "branch": layer, "runs": len(lines),
                   "step": lines[0]["step"]}
            for stat in STATS:  # the mean over the group's runs (seeds)
                values = [float(x[stat]) for x in lines if isinstance(x.get(stat), (int, float))]
                row[stat] = float(np.mean(values)) if values else None
            rows.append(row)
    if not rows:
        out.notes.append(f"{path.name} not drawn: no run has branch probe lines")
        return None
    fig, axes = new_figure(1, 2, panel=(5.5, 4.0))
    labels = list(dict.fromkeys(r["group"] for r in rows))
    for label, colour in zip(labels, colours(len(labels))):
        for kind, style in (("attn", "o-"), ("mlp", "s--")):  # the branch name's last part
            mine = [r for r in rows if r["group"] == label and r["branch"].rsplit(".", 1)[-1] == kind]
            if not mine:
                continue
            x = [r["index"] for r in mine]
            axes[0, 0].plot(x, [r["stream_std"] for r in mine], style, color=colour, label=f"{label}: {kind}")
            axes[0, 1].plot(x, [r["branch_ratio"] for r in mine], style, color=colour, label=f"{label}: {kind}")
    step = "the last probe" if fs["step"] == "last" else f"step {fs['step']}"
    for ax, title, ylabel in zip(axes[0], ("residual stream std where each branch reads it",
                                            "branch output std / stream std"),
                                 ("std of the stream (all elements)", "ratio")):
        ax.set_title(f"{title}, {step}", fontsize="small")
        ax.set_xlabel("branch index (0 = the first block's first branch)")
        ax.set_ylabel(ylabel)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="x-small")
    if fs["title"]:
        fig.suptitle(fs["title"])
    out.tables[path.stem] = rows
    show = lambda v: "" if v is None else format(v, ".3g")  # noqa: E731
    out.markdown[path.stem] = markdown_table(
        [*by, "branch", "stream std", "branch std", "ratio"],
        [[*(fmt_value(r[k]) for k in by), r["branch"], show(r["stream_std"]), show(r["branch_std"]),
          show(r["branch_ratio"])] for r in rows],
        align=["l"] * (len(by) + 1) + ["r"] * 3)
    return save(fig, path)
