"""One recipe across the studies: a norm preset chosen by one rule, set against each study's
baseline in the committed run folders, cell by cell. Where does it match the model's own norm?

    python -m normbench.study.recipe dyt_alpha2   # configs/study/recipe/dyt_alpha2.yaml -> results/recipe_dyt_alpha2/

No runs of its own. A place is a study's committed runs (results/<study>/runs/<variant>): the
recipe's variant against the study's baseline variant, in every cell of the study's table where
both ran (same recipe, data, length and seeds, so the difference is paired by seed), judged as
that study judges (its report metric, its margin: normbench.study.verdicts). Each recipe run's
norm config is checked against the preset first: runs that are not the recipe are an error, never
a row. The README is rebuilt from the run folders alone, as a study's is.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from normbench.checkout import configs_dir
from normbench.errors import StudyError
from normbench.report.runs import load_runs
from normbench.report.spec import parse_spec
from normbench.report.tables import Cell, build_cells
from normbench.study.spec import load_study
from normbench.study.verdicts import compare_for
from normbench.study.verdicts.compare import Compare
from normbench.study.verdicts.stats import FAILS, HOLDS, UNSURE, Diff

_KEYS = {"name", "norm", "rule", "places"}
_PLACE_KEYS = {"study", "model", "recipe", "baseline", "at", "note"}
# keys of a run's norm config that change no result (the same layer, run another way)
_SAME_RESULT = {"impl"}


@dataclass
class Row:
    study: str
    model: str
    cell: str       # the study table's cell, e.g. "max_steps=16000" (keys cut to their last part); "" for one cell
    baseline: str   # the baseline's norm, as its runs name it
    recipe: Cell
    base: Cell
    outcome: str
    diff: Diff | None
    cmp: Compare

    def scaled(self) -> tuple[float, float, float] | None:
        """The difference and its interval in margins (so accuracy and bits per byte share an axis)."""
        if self.diff is None:
            return None
        m = self.cmp.margin
        return self.diff.mean / m, self.diff.lo / m, self.diff.hi / m


def load_recipe(name: str, configs: Path | None = None) -> dict:
    configs = Path(configs) if configs is not None else configs_dir()
    path = configs / "study" / "recipe" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (configs / "study" / "recipe").glob("*.yaml"))
        raise StudyError(f"recipe = {name!r} is unknown; allowed: {', '.join(known) or 'none'} (configs/study/recipe/)")
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    unknown = sorted(set(cfg) - _KEYS)
    if unknown:
        raise StudyError(f"recipe.{unknown[0]} is not a recipe key; allowed: {', '.join(sorted(_KEYS))}")
    for i, place in enumerate(cfg.get("places") or []):
        bad = sorted(set(place) - _PLACE_KEYS) or sorted({"study", "recipe", "baseline"} - set(place))
        if bad:
            raise StudyError(f"recipe.places[{i}] = {place!r}: key {bad[0]!r} is unknown or missing; keys: "
                             f"{', '.join(sorted(_PLACE_KEYS))} (study, recipe and baseline required)")
    return cfg


def preset(norm: str, configs: Path) -> dict:
    """The norm config of `norm=<preset>` as a run composed with it gets it, cut to the keys its
    layer reads (its Options and the shared ones: the `norm` group holds every norm's keys, and a
    study may set another norm's, e.g. bn_replace's norm.num_groups for GroupNorm)."""
    import dataclasses

    from normbench.config.compose import compose_run
    from normbench.norms.options import SharedOptions
    from normbench.norms.registry import norm_class

    cfg = OmegaConf.to_container(compose_run([f"norm={norm}"], configs).norm, resolve=True)
    layer = norm_class(cfg["name"])
    read = {f.name for c in (layer.Options, SharedOptions) for f in dataclasses.fields(c)} | {"name"}
    return {k: v for k, v in cfg.items() if k in read}


def check_is_recipe(runs, want: dict, where: str) -> None:
    """Every run's norm config agrees with the preset on each key the run records (a run made
    before a key existed had its default, which the preset's value is checked against too)."""
    for run in runs:
        have = run.config.get("norm", {})
        wrong = {k: (have[k], v) for k, v in want.items() if k in have and k not in _SAME_RESULT and have[k] != v}
        if wrong:
            key, (got, expected) = next(iter(wrong.items()))
            raise StudyError(f"{where}: run {run.path.parent.name}/{run.path.name} has norm.{key} = {got!r}, the "
                             f"recipe has {expected!r}: not the recipe's runs; allowed: a variant composed as the "
                             "preset")


def compare_place(place: dict, results: Path, configs: Path, want: dict) -> list[Row]:
    study = load_study(place["study"], configs=configs)
    report = study.cfg.get("report") or {}
    metric = report.get("metric", "val/acc1")
    cmp = compare_for(study.name, study.cfg.get("margin"), metric)
    if cmp is None:
        raise StudyError(f"recipe place study={study.name}: the study has no verdict rule to judge it by")
    runs_dir = results / study.name / "runs"
    folders = [runs_dir / place["recipe"], runs_dir / place["baseline"]]
    missing = [f for f in folders if not f.is_dir()]
    if missing:
        raise StudyError(f"recipe place study={study.name}: {missing[0]} holds no runs; allowed: a variant with "
                         "committed run folders")
    runs = load_runs(folders)
    check_is_recipe([r for r in runs if r.variant == place["recipe"]], want,
                    f"recipe place study={study.name}, variant {place['recipe']}")
    keys = [k for k in [*report.get("group_by", []), *report.get("columns", [])] if k != "variant"]
    at = place.get("at") or {}
    unknown = sorted(set(at) - set(keys))
    if unknown:
        raise StudyError(f"recipe place study={study.name}: at.{unknown[0]} is not a key of the study's table; "
                         f"allowed: {', '.join(keys) or 'none (a one-cell table)'}")
    runs = [r for r in runs if all(r.key(k) == v for k, v in at.items())]  # as a figure's `where` picks runs
    cells = {c.row: c for c in build_cells(runs, parse_spec({"metric": metric, "group_by": ["variant", *keys],
                                                             "figures": []}))}
    rows = []
    for key, rec in cells.items():  # in the table's order
        if key[0] != place["recipe"] or (place["baseline"], *key[1:]) not in cells:
            continue
        values = dict(zip(keys, key[1:]))
        base = cells[(place["baseline"], *key[1:])]
        outcome, diff = cmp.matches(rec, base)
        cell = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in values.items() if k not in at)
        norm = base.runs[0].config.get("norm", {}).get("name", place["baseline"])
        rows.append(Row(study.name, place.get("model", ""), cell, norm, rec, base, outcome, diff, cmp))
    if not rows:
        raise StudyError(f"recipe place study={study.name}: no cell where both {place['recipe']} and "
                         f"{place['baseline']} ran")
    return rows


def overall(rows: list[Row]) -> str:
    outcomes = [r.outcome for r in rows]
    return HOLDS if all(o == HOLDS for o in outcomes) else FAILS if FAILS in outcomes else UNSURE


def counts(rows: list[Row]) -> str:
    n = len(rows)
    return (f"matches in {sum(r.outcome == HOLDS for r in rows)}, does not in {sum(r.outcome == FAILS for r in rows)}, "
            f"inconclusive in {sum(r.outcome == UNSURE for r in rows)} of {n} cells")


def table(rows: list[Row]) -> list[str]:
    out = ["| study | model | cell | baseline | baseline's number | recipe's number | recipe - baseline | matches? |",
           "| --- | --- | --- | --- | ---: | ---: | --- | --- |"]
    for r in rows:
        d = r.cmp.show_diff("", r.diff).removeprefix(": ")
        out.append(f"| [{r.study}](../{r.study}/README.md) | {r.model} | {r.cell or '-'} | {r.baseline} | "
                   f"{r.cmp.show(r.base)} | {r.cmp.show(r.recipe)} | {d} | **{r.outcome}** |")
    return out


def write(name: str, results: Path | None = None, configs: Path | None = None, out: Path | None = None) -> Path:
    """Reads results/<study>/runs of each place, writes out (default results/recipe_<name>/)."""
    from normbench.report.figures.forest import draw_forest

    configs = Path(configs) if configs is not None else configs_dir()
    results = Path(results) if results is not None else configs.parent / "results"
    cfg = load_recipe(name, configs)
    want = preset(cfg["norm"], configs)
    rows = [row for place in cfg["places"] for row in compare_place(place, results, configs, want)]
    out = Path(out) if out is not None else results / f"recipe_{name}"
    out.mkdir(parents=True, exist_ok=True)
    with (out / "table.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["study", "model", "cell", "baseline", "metric", "margin", "baseline_mean", "recipe_mean", "diff",
                    "lo", "hi", "n", "paired", "outcome"])
        for r in rows:
            d = r.diff
            w.writerow([r.study, r.model, r.cell, r.baseline, r.cmp.metric, r.cmp.margin, r.base.mean, r.recipe.mean,
                        *(("", "", "", "", "") if d is None else (d.mean, d.lo, d.hi, d.n_a, d.paired)), r.outcome])
    draw_forest([(f"{r.model}" + (f" | {r.cell}" if r.cell else "") + f" | vs {r.baseline}", r.scaled(), r.outcome)
                 for r in rows], out / "forest.png", title=f"norm={cfg['norm']} - the model's own norm")
    lo = [r for r in rows if r.baseline in ("layernorm", "rmsnorm")]
    lines = [f"# Recipe `{name}`: norm={cfg['norm']} in every model", "",
             f"**Rule.** {cfg['rule'].strip()}", "",
             f"**Preset.** `norm={cfg['norm']}` (configs/norm/{cfg['norm']}.yaml); every recipe run below was "
             "checked against it key by key.", "",
             f"**Command.** `python -m normbench.study.recipe {name}` (configs/study/recipe/{name}.yaml): no runs "
             "of its own; each row is a study's committed run folders, the recipe's variant against the study's "
             "baseline in every cell of the study's table where both ran, judged by that study's metric and "
             "margin (its README states them).", "",
             "## Where it matches the model's own norm", "", *table(rows), "",
             "Each number: mean ± sample std over seeds (n runs). recipe - baseline: signed so that positive "
             "means the recipe is better; its 90 % t-interval, paired by seed. \"matches\": the interval lies "
             "inside the study's margin (holds), wholly outside it (does not hold), else inconclusive.", "",
             "![recipe - baseline in margins](forest.png)", "",
             "## Verdict", "",
             f"- **C1 with one recipe for every model (norm={cfg['norm']} against LN or RMSNorm): "
             f"{overall(lo) if lo else UNSURE}.** {counts(lo) if lo else 'no LN or RMSNorm place'}",
             f"- **The recipe matches each model's own norm (LN, RMSNorm or BatchNorm) everywhere: "
             f"{overall(rows)}.** {counts(rows)}", ""]
    notes = [f"- {p['study']}, {p.get('model', p['recipe'])}: {p['note'].strip()}"
             for p in cfg["places"] if p.get("note")]
    if notes:
        lines += ["## Notes on the places", "", *notes, ""]
    hand = results / f"recipe_{name}" / "NOTES.md"  # written by hand beside the committed page
    if hand.exists():
        lines += [hand.read_text(encoding="utf-8").rstrip(), ""]
    readme = out / "README.md"
    readme.write_text("\n".join(lines), encoding="utf-8")
    return readme


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m normbench.study.recipe <name>   (configs/study/recipe/<name>.yaml)", file=sys.stderr)
        return 2
    try:
        path = write(argv[0])
    except StudyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
