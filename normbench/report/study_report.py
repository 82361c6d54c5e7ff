"""report(): run folders -> table.md, table.csv, runs.csv and the figures, in one call.

This is what `python -m normbench.report` and sweep.py call. The ReportResult it returns
holds the paths and the markdown, so a study's README can embed the table and link the
figures (`result.readme_markdown(relative_to=...)`) without reading the files back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from normbench.report.figures import FigureOutput, render_figures
from normbench.report.runs import Run, load_runs
from normbench.report.spec import ReportSpec, load_spec, parse_spec
from normbench.report.tables import build_tables, write_csv

STUDY_FILE = "study.yaml"

LINEAR_RANGE_NOTE = (
    "Linear range (as in the paper's section 3, where LN's S-curve resembles a scaled tanh whose central part is "
    "linear): y ~ a tanh(b (x - x0)) is fitted to all sampled points of a layer by least absolute deviations (x0: where the least-squares line crosses y = 0); "
    "a point is in the linear range when |b (x - x0)| <= u*, where that tanh is within the tolerance (0.1: 10 %) of "
    "its tangent (u* = 0.584). A layer whose points lie on one line fits with b -> 0 and has all its points in it."
)


@dataclass
class ReportResult:
    """Everything a report wrote, and the markdown to embed it elsewhere."""

    out_dir: Path
    spec: ReportSpec
    runs: list[Run]
    table_md: Path  # the table, its notes and the figures' small tables
    table_csv: Path  # one row per cell, full precision
    runs_csv: Path  # one row per run
    figures: list[Path]  # PNGs, in the spec's order
    csvs: dict[str, Path]  # the numbers behind figures: name -> CSV path
    table_markdown: str  # the main table alone
    markdown: str  # the content of table.md
    tables: dict = field(repr=False, default_factory=dict)  # build_tables' output
    figure_output: FigureOutput = field(repr=False, default_factory=FigureOutput)

    @property
    def alpha_points(self) -> list[dict]:
        """The alpha-vs-1/std points of the first alpha_vs_inv_std figure ([] without one)."""
        for name, rows in self.figure_output.tables.items():
            if name.startswith("alpha_vs_inv_std") and not name.endswith("_correlation"):
                return rows
        return []

    def readme_markdown(self, relative_to: str | Path | None = None, heading: str = "###") -> str:
        """table.md's content followed by the figures as markdown images, their paths relative
        to `relative_to` (default: the output folder, where a study's README lives)."""
        base = Path(relative_to) if relative_to is not None else self.out_dir
        parts = [self.markdown.rstrip()]
        if self.figures:
            parts.append(f"{heading} Figures")
            for p in self.figures:
                parts.append(f"![{p.stem}]({Path(os.path.relpath(p, base)).as_posix()})")
        return "\n\n".join(parts) + "\n"


def find_study_spec(folders: Iterable[str | Path]) -> Path | None:
    """The first <folder>/study.yaml among the given folders."""
    for folder in folders:
        candidate = Path(folder) / STUDY_FILE
        if candidate.is_file():
            return candidate
    return None


def _section_title(name: str) -> str:
    if name.endswith("_correlation"):
        stem = name[: -len("_correlation")]
        return "alpha vs 1/std across DyT layers: Pearson r" + ("" if stem == "alpha_vs_inv_std" else f" ({stem})")
    if name.startswith("scurve"):
        return "S-curve: share of points in the linear range" + ("" if name == "scurve" else f" ({name})")
    return name


def _is_study_folder(folder: str | Path) -> bool:
    return (Path(folder) / "study.yaml").is_file() and (Path(folder) / "runs").is_dir()


def report(folders: Iterable[str | Path] | str | Path, out_dir: str | Path | None = None,
           spec: ReportSpec | dict | str | Path | None = None) -> ReportResult:
    """Tables and figures of the runs under `folders` (searched recursively for summary.json; in a
    study folder, under its runs/ only).

    spec: a ReportSpec, a `report:` mapping, or a study YAML path; None: the first
    <folder>/study.yaml, else the default (val/acc1 by variant, loss curves).
    out_dir: default the first folder (results/<study>/ for a study whose runs are in runs/).
    """
    folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
    # a study folder (study.yaml beside runs/) holds other run folders too (a pilot, a length
    # check) that are not the study's: its table is made of runs/ alone, as sweep.py --report's
    runs = load_runs([Path(f) / "runs" if _is_study_folder(f) else f for f in folders])
    if spec is None:
        found = find_study_spec(folders)
        spec = load_spec(found) if found else parse_spec(None)
    spec = parse_spec(spec)
    out = Path(out_dir) if out_dir is not None else Path(folders[0])
    out.mkdir(parents=True, exist_ok=True)

    tables = build_tables(runs, spec, base=out)
    figs = render_figures(runs, spec, out)

    sections = [tables["markdown"].rstrip()]
    for name, md in figs.markdown.items():
        sections.append(f"### {_section_title(name)}\n\n{md}")
        if name.startswith("scurve"):
            sections.append(LINEAR_RANGE_NOTE)
    if figs.notes:
        sections.append("Figures not drawn or cut: " + "; ".join(figs.notes) + ".")
    markdown = "\n\n".join(sections) + "\n"

    table_md = out / "table.md"
    table_md.write_text(markdown, encoding="utf-8")
    table_csv = write_csv(out / "table.csv", tables["table_rows"])
    runs_csv = write_csv(out / "runs.csv", tables["run_rows"])
    return ReportResult(out_dir=out, spec=spec, runs=runs, table_md=table_md, table_csv=table_csv,
                        runs_csv=runs_csv, figures=figs.paths, csvs=figs.csv_paths,
                        table_markdown=tables["table_markdown"], markdown=markdown, tables=tables,
                        figure_output=figs)
