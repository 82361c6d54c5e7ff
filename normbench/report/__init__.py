"""Run folders -> tables (markdown, CSV) and figures (PNG), and a study's wandb report.

    from normbench.report import report
    result = report(["results/squash"])          # writes table.md/csv, runs.csv, figures
    print(result.markdown); result.figures

    python -m normbench.report results/squash [--out DIR] [--study study.yaml]

It needs only the run folders' light files (config.yaml, summary.json, metrics.jsonl,
probes.jsonl): no checkpoint and no wandb, so a fresh clone rebuilds every table.
"""

from normbench.errors import ReportError
from normbench.report.figures import make_figures, render_figures
from normbench.report.runs import Run, load_runs
from normbench.report.spec import FIGURES, FigureSpec, ReportSpec, load_spec, parse_spec
from normbench.report.study_report import ReportResult, report
from normbench.report.tables import build_tables
from normbench.report.wandb_report import dashboard_spec, log_report_to_wandb

__all__ = [
    "FIGURES", "FigureSpec", "ReportError", "ReportResult", "ReportSpec", "Run", "build_tables",
    "dashboard_spec", "load_runs", "load_spec", "log_report_to_wandb", "make_figures", "parse_spec",
    "render_figures", "report",
]
