"""A study's report in wandb: one "report" run in the study's group, and a dashboard as code.

Neither is needed for a report: the run folders and table.md are the record. The report
run logs the table as a wandb.Table, the figures as images and alpha vs 1/std as a scatter
chart, so they sit beside the training runs of the same group. `dashboard_spec` builds a
wandb workspace (loss curves by variant, the accuracy table, alpha beside 1/std per layer)
with the optional `wandb-workspaces` library; saving it needs the network and a login.
wandb and wandb_workspaces are imported only here, only when called (both are slow to import).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from normbench.errors import ReportError
from normbench.track.wandb_run import MODES

if TYPE_CHECKING:
    from normbench.report.study_report import ReportResult

TABLE_KEY = "report/table"  # the dashboard's table panel reads this summary key
RUNS_KEY = "report/runs"
ALPHA_KEY = "report/alpha_vs_inv_std"
NUMBERS = ("runs", "points", "pearson_r", "points_token", "pearson_r_token")  # a correlation row's non-key columns
WORKSPACES_REQUIREMENT = "wandb-workspaces>=0.4"


def _cell(v: Any) -> Any:
    # wandb.Table wants one type per column: numbers stay numbers (NaN/inf become None), the rest text
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return str(v)


def _table(wandb: Any, rows: Sequence[dict]):
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    data = [[_cell(row.get(c)) for c in columns] for row in rows]
    for j, c in enumerate(columns):  # a column mixing numbers and text becomes text
        kinds = {type(r[j]) for r in data if r[j] is not None}
        if len(kinds) > 1 and str in kinds:
            for r in data:
                r[j] = None if r[j] is None else str(r[j])
    return wandb.Table(columns=columns, data=data)


def log_report_to_wandb(result: "ReportResult", study_name: str, mode: str = "offline", dir: str | Path | None = None,
                        project: str = "normbench", entity: str | None = None) -> str | None:
    """Log a report as one wandb run (group = study_name, job_type "report"); its run id.

    mode: offline (default; `wandb sync` later), online (needs a login) or disabled (nothing
    is written, though everything is built). dir: where wandb writes (default: the report's
    output folder).
    """
    if mode not in MODES:
        raise ReportError(f"wandb mode = {mode!r} is unknown; allowed: {', '.join(MODES)}")
    import wandb

    run = wandb.init(mode=mode, dir=str(dir or result.out_dir), project=project, entity=entity, group=study_name,
                     job_type="report", name=f"{study_name}-report",
                     config={"study": study_name, "metric": result.spec.metric,
                             "group_by": list(result.spec.group_by), "columns": list(result.spec.columns),
                             "runs": len(result.runs)},
                     settings=wandb.Settings(silent=True, console="off"))
    try:
        logged: dict[str, Any] = {TABLE_KEY: _table(wandb, result.tables["table_rows"]),
                                  RUNS_KEY: _table(wandb, result.tables["run_rows"])}
        for path in result.figures:
            logged[f"report/figures/{path.stem}"] = wandb.Image(str(path), caption=path.stem)
        for name, rows in result.figure_output.tables.items():
            if name.endswith("_correlation") and rows:
                logged[f"report/{name}"] = _table(wandb, rows)
        points = result.alpha_points
        if points:
            scatter = wandb.Table(columns=["alpha", "inv_std", "layer", "variant"],
                                  data=[[p["alpha"], p["inv_std"], p["layer"], p["variant"]] for p in points])
            logged[ALPHA_KEY] = wandb.plot.scatter(scatter, "inv_std", "alpha", title="alpha vs 1/std across DyT layers")
        run.log(logged)
        for name, rows in result.figure_output.tables.items():
            if name.endswith("_correlation"):
                for row in rows:
                    key = "/".join(str(v) for k, v in row.items() if k not in NUMBERS)
                    for r in ("pearson_r", "pearson_r_token"):  # alpha vs 1/std, and vs 1/token std
                        if row.get(r) is not None:
                            run.summary[f"report/{r}/{key}"] = row[r]
        return run.id
    finally:
        run.finish()


def dashboard_spec(study_name: str, project: str, entity: str, variants: Sequence[str] = (),
                   layers: Sequence[str] = (), metric: str = "val/acc1"):
    """A wandb workspace for a study, as a `wandb_workspaces.workspaces.Workspace`.

    Sections: loss curves by variant (train/loss, val/loss, mean with a min-max band over
    seeds), the accuracy (the report run's table and a bar chart of `metric` by variant), and
    per layer its alpha beside its 1/std (series `probe/<layer>/alpha`, `probe/<layer>/inv_std`).
    Runs are those of the wandb group `study_name`, grouped by config `variant`; `variants`
    pins their order and colours. Save it with `.save()` (online, logged in).
    Needs the optional `wandb-workspaces` package.
    """
    try:
        import wandb_workspaces.reports.v2 as wr
        import wandb_workspaces.workspaces as ws
    except ImportError:
        raise ReportError(f"dashboard_spec needs the optional package wandb-workspaces: pip install '{WORKSPACES_REQUIREMENT}'") from None

    by_variant = dict(groupby=wr.Config("variant"), groupby_aggfunc="mean", groupby_rangefunc="minmax")
    loss = ws.Section(name="Loss curves by variant", is_open=True, panels=[
        wr.LinePlot(title=name, x="Step", y=[name], log_y=True, title_y=name, **by_variant)
        for name in ("train/loss", "val/loss")])
    accuracy = ws.Section(name=f"{metric} by variant", is_open=True, panels=[
        wr.WeavePanelSummaryTable(table_name=TABLE_KEY),
        wr.BarPlot(title=f"final {metric}", metrics=[metric], orientation="v", groupby=wr.Config("variant"),
                   groupby_aggfunc="mean", groupby_rangefunc="stddev"),
        wr.WeavePanelSummaryTable(table_name=ALPHA_KEY),
    ])
    per_layer = [
        ws.Section(name=f"alpha and 1/std: {layer}", is_open=i < 2,
                   layout_settings=ws.SectionLayoutSettings(columns=2, rows=1),
                   panels=[wr.LinePlot(title=f"{layer}: {label}", x="Step", y=[f"probe/{layer}/{stat}"], title_y=label,
                                       **by_variant)
                           for stat, label in (("alpha", "alpha"), ("inv_std", "1 / std of the input"))])
        for i, layer in enumerate(layers)
    ]
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    colours = {v: "#{:02x}{:02x}{:02x}".format(*(int(255 * c) for c in palette(i % 10)[:3])) for i, v in enumerate(variants)}
    return ws.Workspace(
        entity=entity, project=project, name=f"normbench: {study_name}",
        sections=[loss, accuracy, *per_layer],
        runset_settings=ws.RunsetSettings(filters=f"Group = '{study_name}'", groupby=[ws.Config("variant")],
                                          group_colors=colours),
    )
