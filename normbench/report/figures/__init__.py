"""The report's figures: one PNG per entry of the spec's `figures`, drawn from run folders.

Only finished runs (ok or diverged) are drawn, as only they enter the table. A figure whose
data is absent (no probes.jsonl, no scurve samples) is skipped with a note, since a run
without probes is normal; a figure asked for a layer or key that no run has is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from normbench.report.figures.alpha import alpha_std, alpha_vs_inv_std
from normbench.report.figures.bars import final_metric_bars
from normbench.report.figures.branches import branch_stats
from normbench.report.figures.common import FigureOutput
from normbench.report.figures.curves import loss_curves
from normbench.report.figures.gap import curve_gap
from normbench.report.figures.grid import stability_grid
from normbench.report.figures.layers import layer_stats
from normbench.report.figures.metric_vs import metric_vs
from normbench.report.figures.samples import sample_grids
from normbench.report.figures.scurve import scurve
from normbench.report.runs import Run
from normbench.report.spec import FIGURES, ReportSpec, parse_spec
from normbench.report.tables import write_csv

DRAW: dict[str, Callable[..., Path | None]] = {
    "loss_curves": loss_curves,
    "stability_grid": stability_grid,
    "alpha_std": alpha_std,
    "alpha_vs_inv_std": alpha_vs_inv_std,
    "scurve": scurve,
    "final_metric_bars": final_metric_bars,
    "metric_vs": metric_vs,
    "layer_stats": layer_stats,
    "branch_stats": branch_stats,
    "curve_gap": curve_gap,
    "sample_grids": sample_grids,
}
assert set(DRAW) == set(FIGURES), "every figure kind in spec.FIGURES needs a drawing function"


def render_figures(runs: Sequence[Run], spec: ReportSpec | Any, out_dir: str | Path) -> FigureOutput:
    """Draw every figure of the spec into out_dir/<kind>[_<n>].png, write the numbers some
    figures compute (points, correlations, linear-range shares) as <name>.csv beside them,
    and collect notes on figures that were skipped."""
    spec = parse_spec(spec)
    out_dir = Path(out_dir)
    finished = [r for r in runs if r.complete]
    out = FigureOutput()
    if not finished:
        out.notes.append("no figures: no run has finished (ok or diverged)")
        return out
    for fs in spec.figures:
        where = fs.options.get("where")
        runs_in = [r for r in finished if all(r.key(k) in vals for k, vals in where.items())] if where else finished
        if not runs_in:
            out.notes.append(f"{fs.stem}: no finished run matches where = {where}")
            continue
        path = DRAW[fs.kind](runs_in, spec, fs, out_dir / f"{fs.stem}.png", out)
        if path is not None:
            out.paths.append(path)
    for name, rows in out.tables.items():
        if rows:  # the numbers behind a figure, beside its PNG
            out.csv_paths[name] = write_csv(out_dir / f"{name}.csv", rows)
    return out


def make_figures(runs: Sequence[Run], spec: ReportSpec | Any, out_dir: str | Path) -> list[Path]:
    """The PNG paths of render_figures (which also writes the figures' numbers as CSV)."""
    return render_figures(runs, spec, out_dir).paths


__all__ = ["FigureOutput", "make_figures", "render_figures"]
