"""Runs -> the study's table: one cell per (row keys, column keys), mean ± std over seeds.

The paper's rule for diverged runs lives here: a diverged run contributes its best value
before divergence and its cell says "failed (k/n diverged)"; a cell that mixes ok and
diverged runs shows the mean over all of them with the count. Runs still running or that
failed with an error are "incomplete": listed under the table, never in a mean.
"""

from __future__ import annotations

import csv
import difflib
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from normbench.errors import ReportError
from normbench.report.runs import CHANCE_BAND, Run, dotted_keys
from normbench.report.spec import ReportSpec, parse_spec


# -- config values as labels and sort keys ------------------------------------------------
def fmt_value(value: Any) -> str:
    """A config value as a table label: YAML spelling for null/booleans, %g for floats."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def group_label(keys: Sequence[str], values: Sequence[Any]) -> str:
    """"dyt-tanh" for [variant]; "model.depth=4" or "variant=dyt, optim.lr=0.002" otherwise."""
    if list(keys) == ["variant"]:
        return fmt_value(values[0])
    return ", ".join(f"{k}={fmt_value(v)}" for k, v in zip(keys, values))


def order_values(values: Iterable[Any]) -> list[Any]:
    """Distinct values: numbers ascending, then the rest in first-seen order (a study lists
    its variants in a meaningful order, and run folders are read in job order), null last."""
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    numbers = sorted(v for v in seen if isinstance(v, (int, float)) and not isinstance(v, bool))
    others = [v for v in seen if v is not None and v not in numbers]
    return numbers + others + ([None] if None in seen else [])


def ordered_keys(tuples: Iterable[tuple]) -> list[tuple]:
    """Distinct tuples sorted element by element with order_values' rule."""
    tuples = list(dict.fromkeys(tuples))
    if not tuples:
        return []
    ranks = [{_hashable(v): i for i, v in enumerate(order_values(t[j] for t in tuples))} for j in range(len(tuples[0]))]
    return sorted(tuples, key=lambda t: [ranks[j][_hashable(v)] for j, v in enumerate(t)])


def _hashable(v: Any) -> Any:
    return (type(v).__name__, v) if isinstance(v, bool) else v


def run_key(run: Run, keys: Sequence[str]) -> tuple:
    return tuple(_label_value(run.key(k)) for k in keys)


def _label_value(v: Any) -> Any:
    # a list or mapping in a config (e.g. logger.wandb.tags) must still work as a dict key
    if isinstance(v, list):
        return tuple(v)
    if isinstance(v, dict):
        return str(v)
    return v


def check_keys(runs: Sequence[Run], spec: ReportSpec) -> None:
    """Every config key the spec uses must exist in at least one run's config.yaml."""
    for key, where in spec.config_keys().items():
        if any(r.has_key(key) or r.key(key) is not None for r in runs):
            continue
        known = sorted({k for r in runs for k in dotted_keys(r.config)})
        close = difflib.get_close_matches(key, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else (f"; keys present include: {', '.join(known[:12])}" if known else "; the runs have no config.yaml")
        raise ReportError(f"{where}: key {key!r} is in no run's config.yaml{hint}")


# -- statistics -----------------------------------------------------------------------
def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample std (ddof=1, as over seeds); std None for one value, both None for none."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))


@dataclass
class Cell:
    """The runs of one (row, column) and what the table shows for them."""

    row: tuple
    col: tuple
    runs: list[Run] = field(default_factory=list)
    values: list[float] = field(default_factory=list)  # one per complete run with a number
    n_ok: int = 0
    n_diverged: int = 0
    n_at_chance: int = 0  # ok runs that ended at chance accuracy: collapsed without a NaN
    incomplete: list[Run] = field(default_factory=list)
    mean: float | None = None
    std: float | None = None

    @property
    def n(self) -> int:
        """Complete runs (ok + diverged): the seeds the cell stands on."""
        return self.n_ok + self.n_diverged

    @property
    def status(self) -> str:
        if self.n == 0:
            return "incomplete"
        if self.n_diverged == self.n:
            return "failed"
        return "mixed" if self.n_diverged else "ok"

    def text(self, decimals: int, with_n: bool = False) -> str:
        """"82.4 ± 0.7", "58.5 failed (3/3 diverged)", "70.1 ± 9.0 (1/3 diverged)", "— (2 incomplete)",
        "54.1 ± 25.0 (1/3 at chance)"."""
        if self.n == 0:
            return f"— ({len(self.incomplete)} incomplete)"
        number = "—" if self.mean is None else f"{self.mean:.{decimals}f}"
        if self.std is not None:
            number += f" ± {self.std:.{decimals}f}"
        parts = [number]
        if self.status == "failed":
            parts.append(f"failed ({self.n_diverged}/{self.n} diverged)")
        elif self.status == "mixed":
            parts.append(f"({self.n_diverged}/{self.n} diverged)")
        if self.n_at_chance:
            parts.append(f"({self.n_at_chance}/{self.n} at chance)")
        if with_n:
            parts.append(f"(n={self.n})")
        return " ".join(parts)


def build_cells(runs: Sequence[Run], spec: ReportSpec, row_keys: Sequence[str] | None = None,
                col_keys: Sequence[str] | None = None, metric: str | None = None) -> list[Cell]:
    """One Cell per (row, column) that has runs, in table order."""
    row_keys = list(spec.group_by if row_keys is None else row_keys)
    col_keys = list(spec.columns if col_keys is None else col_keys)
    metric = metric or spec.metric
    cells: dict[tuple, Cell] = {}
    for run in runs:
        row, col = run_key(run, row_keys), run_key(run, col_keys)
        cell = cells.setdefault((row, col), Cell(row=row, col=col))
        cell.runs.append(run)
        if run.status == "ok":
            cell.n_ok += 1
            cell.n_at_chance += run.at_chance(metric)
        elif run.status == "diverged":
            cell.n_diverged += 1
        else:
            cell.incomplete.append(run)
            continue
        value = run.value(metric, spec.higher_is_better)
        if value is not None and math.isfinite(value):
            cell.values.append(value)
    for cell in cells.values():
        cell.mean, cell.std = mean_std(cell.values)
    rows = ordered_keys(c.row for c in cells.values())
    cols = ordered_keys(c.col for c in cells.values())
    return sorted(cells.values(), key=lambda c: (rows.index(c.row), cols.index(c.col)))


# -- markdown and CSV -----------------------------------------------------------------
def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> str:
    align = align or ["l"] * len(header)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(_md_escape(str(c)) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _main_markdown(cells: list[Cell], spec: ReportSpec) -> str:
    rk, ck = list(spec.group_by), list(spec.columns)
    if not ck:
        header = [*rk, f"{spec.metric} (mean ± std)", "n", "diverged", "status"]
        rows = [[*(fmt_value(v) for v in c.row), c.text(spec.decimals), str(c.n), str(c.n_diverged), c.status]
                for c in cells]
        return markdown_table(header, rows, align=["l"] * len(rk) + ["r", "r", "r", "l"])
    # wide layout: one column per value of the column keys, n inside each cell
    rows_order = ordered_keys(c.row for c in cells)
    cols_order = ordered_keys(c.col for c in cells)
    by = {(c.row, c.col): c for c in cells}
    corner = rk[-1] + " \\ " + ", ".join(ck)
    header = [*rk[:-1], corner, *(", ".join(fmt_value(v) for v in col) for col in cols_order)]
    rows = []
    for row in rows_order:
        texts = [by[(row, col)].text(spec.decimals, with_n=True) if (row, col) in by else "" for col in cols_order]
        rows.append([*(fmt_value(v) for v in row), *texts])
    return markdown_table(header, rows, align=["l"] * len(rk) + ["r"] * len(cols_order))


def rel_path(path: Path, base: str | Path | None = None) -> str:
    """A run's path for tables: relative to `base` (the report's folder) when inside it, else
    relative to the working directory when below it, else absolute."""
    path = Path(path)
    for root in ([Path(base)] if base is not None else []) + [Path.cwd()]:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
    return str(path.resolve())


# Keys that differ between runs of one cell without making them different experiments.
_BOOKKEEPING = ("trainer.seed", "trainer.resume", "logger.", "hydra.", "data.root", "trainer.device")


def _differing_keys(runs: Sequence[Run]) -> list[str]:
    keys = sorted({k for r in runs for k in dotted_keys(r.config)})
    differ = []
    for k in keys:
        if any(k == b or (b.endswith(".") and k.startswith(b)) for b in _BOOKKEEPING):
            continue
        if len({repr(r.key(k)) for r in runs}) > 1:
            differ.append(k)
    return differ


def _notes(cells: list[Cell], spec: ReportSpec, runs: Sequence[Run], base: str | Path | None) -> list[str]:
    side = "best" if spec.higher_is_better else "lowest"
    notes = [
        f"Each cell: mean ± sample std (ddof 1) over seeds of each run's final {spec.metric}; n = runs "
        f"that finished (ok or diverged). A diverged run contributes its {side} {spec.metric} before it "
        f"diverged, and its cell says how many diverged (the paper's \"58.5 → failed\")."
    ]
    stuck = sum(c.n_at_chance for c in cells)
    if stuck:
        notes.append(f"{stuck} run(s) ended at chance accuracy (within {CHANCE_BAND:g} points) with a finite loss: "
                     "collapsed without diverging; their cells say \"(k/n at chance)\".")
    mixed = _split_formats(runs)
    if mixed:
        notes.append(mixed)
    for c in cells:
        # Two finished runs with one seed in a cell: either the cell averages over a config key
        # that is not in group_by/columns (say which), or one run was copied.
        done = [r for r in c.runs if r.complete]
        seeds = [r.seed for r in done]
        if len(set(map(repr, seeds))) == len(seeds):
            continue
        name = group_label(spec.group_by, c.row) + (f" / {group_label(spec.columns, c.col)}" if spec.columns else "")
        differ = _differing_keys(done)
        if differ:
            notes.append(f"Cell {name} averages runs that differ in {', '.join(differ[:6])}"
                         f"{' ...' if len(differ) > 6 else ''}: add the key to group_by or columns to split it.")
        else:
            notes.append(f"Cell {name} holds runs with the same seed and config: is one folder a copy of another?")
    incomplete = [r for r in runs if not r.complete]
    if incomplete:
        items = []
        for r in incomplete:
            step = r.summary.get("step")
            where = f" at step {step}/{r.summary.get('max_steps')}" if step is not None else ""
            err = f": {r.summary['error']}" if r.status == "failed" and r.summary.get("error") else ""
            items.append(f"`{rel_path(r.path, base)}` ({r.status}{where}{err})")
        notes.append(f"Incomplete runs, not in any mean ({len(incomplete)}): " + "; ".join(items) + ".")
    return notes


def _split_formats(runs: Sequence[Run]) -> str | None:
    """A warning when runs of one study define val/* and test/* differently: image runs made before
    data.val_split existed (their val/* is the held-out test images, every training image trained
    on) beside runs with a validation split (val/* carved out of the training images, test/* the
    held-out ones), or language-model runs with different data.test_fraction (the test split moves
    val/* to other bytes). The same metric name then means two data sets."""
    notes = []
    image = [r for r in runs if r.image_data]
    old = [r for r in image if r.predates_val_split]
    if old and len(old) < len(image):
        notes.append(f"{len(old)} image run(s) predate data.val_split (their val/* is the held-out test images, all "
                     f"training images trained on), {len(image) - len(old)} have a validation split (val/* carved "
                     "from the training images, test/* held out)")
    fractions = Counter(f for r in runs if (f := r.text_test_fraction) is not None)
    if len(fractions) > 1:
        notes.append("language-model runs hold out different test splits (" + ", ".join(
            f"{n} with data.test_fraction = {f:g}" for f, n in sorted(fractions.items())) + "), so their val/* "
            "are different bytes of the corpus")
    if not notes:
        return None
    return (f"**Runs of two data formats are mixed: {'; '.join(notes)}.** A table on val/* or test/* then "
            "compares different data: rerun the older runs with this code.")


def run_rows(runs: Sequence[Run], spec: ReportSpec, base: str | Path | None = None) -> list[dict]:
    """runs.csv: one row per run with its keys, outcome and cost."""
    keys = spec.row_and_column_keys
    if "trainer.seed" not in keys:
        keys = keys + ["trainer.seed"]
    rows = []
    for r in runs:
        best, best_step = r.best(spec.metric, spec.higher_is_better)
        s = r.summary
        rows.append({
            "path": rel_path(r.path, base),
            **{k: r.key(k) for k in keys},
            "status": r.status,
            "step": s.get("step"),
            "max_steps": s.get("max_steps"),
            "value": r.value(spec.metric, spec.higher_is_better),
            "final": r.final(spec.metric) if r.complete else None,
            "best": best,
            "best_step": best_step,
            "diverged_step": r.diverged_step,
            "diverged_loss": r.diverged_loss,
            "wall_time_s": s.get("wall_time_s"),
            "train_time_s": s.get("train_time_s"),
            "throughput_samples_per_s": s.get("throughput_samples_per_s"),
            "num_params": s.get("num_params"),
            "probe_warnings": r.probe_warnings,
            "error": s.get("error"),
        })
    return rows


def cell_rows(cells: list[Cell], spec: ReportSpec) -> list[dict]:
    """table.csv: one row per cell (long format, full precision)."""
    return [{
        **dict(zip(spec.group_by, c.row)),
        **dict(zip(spec.columns, c.col)),
        "metric": spec.metric,
        "mean": c.mean,
        "std": c.std,
        "n": c.n,
        "n_diverged": c.n_diverged,
        "n_at_chance": c.n_at_chance,
        "n_incomplete": len(c.incomplete),
        "status": c.status,
        "values": " ".join(repr(v) for v in c.values),
        "text": c.text(spec.decimals),
    } for c in cells]


def build_tables(runs: Sequence[Run], spec: ReportSpec | Any = None, base: str | Path | None = None) -> dict:
    """The study's tables from its runs.

    Returns {"cells": [Cell], "table_rows": [dict] (table.csv), "run_rows": [dict] (runs.csv),
    "table_markdown": the table alone, "notes": [str], "markdown": the table with its notes}.
    Run paths are written relative to `base` (the report's folder) when they are inside it.
    """
    spec = parse_spec(spec)
    if not runs:
        raise ReportError("no runs to tabulate")
    check_keys(runs, spec)
    cells = build_cells(runs, spec)
    table_md = _main_markdown(cells, spec)
    notes = _notes(cells, spec, runs, base)
    markdown = table_md + "\n\n" + "\n\n".join(notes) + "\n"
    return {"cells": cells, "table_rows": cell_rows(cells, spec), "run_rows": run_rows(runs, spec, base),
            "table_markdown": table_md, "notes": notes, "markdown": markdown}


def write_csv(path: str | Path, rows: Sequence[dict]) -> Path:
    """Rows of dicts as CSV (columns: the union of keys in first-seen order; None -> empty)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for row in rows:
            w.writerow({k: _csv_value(row.get(k)) for k in fields})
    return path


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return v
