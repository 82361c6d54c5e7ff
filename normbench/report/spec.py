"""The report spec: what a study's table and figures show, checked before any work.

A study says it in a `report:` mapping (its study.yaml, or --study FILE); without one the
default is a table of val/acc1 by variant and the loss curves. Every key is checked here so
a typo fails with the key's name and what is allowed, not as a missing figure later.
Which config keys exist is checked later against the runs (see tables.check_keys).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from normbench.errors import ReportError

LAYER_WORDS = ("first", "middle", "last")

# Every figure kind with its keys and their defaults. None for "by" / "metric" means "the
# report's": by = group_by + columns (so curves never average over a column key such as
# optim.lr), metric = the report's metric. Every kind also takes `where` ({dotted key: value or
# [values]}): drawn from the matching runs only, e.g. one cell of a study's grid.
FIGURES: dict[str, dict[str, Any]] = {
    "loss_curves": {"split": "train", "metric": "loss", "by": None, "band": "minmax", "logy": "auto", "title": None},
    "stability_grid": {"x": "optim.lr", "y": "model.depth", "facet": None, "metric": None, "title": None},
    "alpha_std": {"layers": ["first", "last"], "by": None, "title": None},
    "alpha_vs_inv_std": {"by": ["model.name"], "step": "last", "title": None},
    "scurve": {"layers": ["first", "last"], "step": "last", "by": None, "tolerance": 0.1, "title": None},
    "final_metric_bars": {"by": None, "metric": None, "title": None},
    "metric_vs": {"x": "trainer.max_steps", "by": None, "metric": None, "logx": True, "title": None},
    "layer_stats": {"by": None, "step": "last", "title": None},
    "branch_stats": {"by": None, "step": "last", "title": None},
    # pairs is required; by defaults to [variant] so that pairs name variants as the study lists them
    "curve_gap": {"pairs": None, "by": ["variant"], "split": "train", "metric": "loss", "smooth": 5, "title": None},
    # task=generate: the latest images/val_<image>_step*.png of each group's best run
    "sample_grids": {"by": None, "image": "samples", "title": None},
}

TOP_KEYS = ("metric", "group_by", "columns", "figures", "higher_is_better", "decimals")
SPLITS = ("train", "val")
BANDS = ("minmax", "std", "none")
LOGY = ("auto", True, False)

_DOTTED = re.compile(r"^[A-Za-z_][\w-]*(\.[\w-]+)*$")


@dataclass(frozen=True)
class FigureSpec:
    kind: str
    options: dict  # every key of FIGURES[kind], defaults filled in
    stem: str  # file name without .png: <kind>, then <kind>_2, <kind>_3 for repeats

    def __getitem__(self, key: str) -> Any:
        return self.options[key]


@dataclass(frozen=True)
class ReportSpec:
    metric: str = "val/acc1"
    group_by: tuple[str, ...] = ("variant",)
    columns: tuple[str, ...] = ()
    figures: tuple[FigureSpec, ...] = field(default_factory=tuple)
    higher_is_better: bool = True
    decimals: int = 1

    @property
    def row_and_column_keys(self) -> list[str]:
        return list(self.group_by) + [c for c in self.columns if c not in self.group_by]

    def config_keys(self) -> dict[str, str]:
        """Every dotted config key the spec uses -> where it is used (for error messages)."""
        keys = {k: "report.group_by" for k in self.group_by}
        keys.update({k: "report.columns" for k in self.columns})
        for i, fig in enumerate(self.figures):
            for name in ("by", "x", "y", "facet"):
                value = fig.options.get(name)
                for k in (value if isinstance(value, (list, tuple)) else [value]):
                    if k is not None:
                        keys.setdefault(k, f"report.figures[{i}].{name}")
        return keys


def _bad(where: str, value: Any, allowed: str) -> ReportError:
    return ReportError(f"{where} = {value!r} is not allowed: {allowed}")


def _dotted(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _DOTTED.match(value):
        raise _bad(where, value, "must be a dotted config key such as variant, norm.name or optim.lr")
    return value


def _key_list(where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise _bad(where, value, "must be a list of dotted config keys, e.g. [variant] or [norm.name, optim.lr]")
    return tuple(_dotted(f"{where}[{i}]", v) for i, v in enumerate(value))


def _metric(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(where, value, "must be a metric name <split>/<metric>, e.g. val/acc1 or val/loss")
    return value


def _layers(where: str, value: Any) -> list:
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise _bad(where, value, f"must be a non-empty list of {', '.join(LAYER_WORDS)}, depth indexes or layer names")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (str, int)) or (isinstance(v, str) and not v):
            raise _bad(f"{where}[{i}]", v, f"must be {', '.join(LAYER_WORDS)}, a depth index (int) or a layer name such as blocks.0.norm1")
    return list(value)


def _where(where: str, value: Any) -> dict[str, list]:
    """{dotted key: allowed values}: a figure drawn from the runs whose key has one of the values."""
    example = "a mapping of dotted config keys to a value or a list of values, e.g. {model.depth: 9} or {variant: [layernorm, dyt_2]}"
    if not isinstance(value, Mapping) or not value:
        raise _bad(where, value, example)
    out = {}
    for key, v in value.items():
        vals = list(v) if isinstance(v, (list, tuple, ListConfig)) else [v]
        if not vals or any(isinstance(x, (Mapping, list, tuple)) for x in vals):
            raise _bad(f"{where}.{key}", v, example)
        out[_dotted(f"{where}.{key}", key)] = vals
    return out


def _step(where: str, value: Any) -> str | int:
    if value == "last" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise _bad(where, value, "must be last or a step number >= 0")


def _pairs(where: str, value: Any) -> list[list[str]]:
    example = "a list of [label, reference] pairs of group labels, e.g. [[dyt, layernorm]]"
    if not isinstance(value, (list, tuple)) or not value:
        raise _bad(where, value, "required: " + example)
    pairs = []
    for i, pair in enumerate(value):
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or any(isinstance(v, bool) or not isinstance(v, (str, int, float)) or v == "" for v in pair)):
            raise _bad(f"{where}[{i}]", pair, example)
        # a number as YAML reads it (by: [norm.alpha0], pairs: [[0.5, 1.0]]) -> the label the table shows
        label, ref = (f"{v:g}" if isinstance(v, float) else str(v) for v in pair)
        if label == ref:
            raise _bad(f"{where}[{i}]", pair, "a pair compares two different labels")
        pairs.append([label, ref])
    return pairs


def _figure(i: int, raw: Any, counts: dict[str, int]) -> FigureSpec:
    where = f"report.figures[{i}]"
    if isinstance(raw, str):  # "- loss_curves" is short for "- {kind: loss_curves}"
        raw = {"kind": raw}
    if not isinstance(raw, Mapping):
        raise _bad(where, raw, "must be a mapping with a kind, e.g. {kind: loss_curves}")
    kind = raw.get("kind")
    if kind not in FIGURES:
        raise _bad(f"{where}.kind", kind, f"allowed: {', '.join(FIGURES)}")
    allowed = {**FIGURES[kind], "where": None}  # every figure: draw only the runs whose keys match
    for key in raw:
        if key != "kind" and key not in allowed:
            raise ReportError(f"{where}.{key} is not a key of a {kind} figure; allowed: {', '.join(['kind', *allowed])}")
    o = {**allowed, **{k: v for k, v in raw.items() if k != "kind"}}
    w = f"{where}."
    if o.get("by") is not None:
        o["by"] = list(_key_list(w + "by", o["by"]))
    if o.get("metric") is not None:
        o["metric"] = _metric(w + "metric", o["metric"])
    if o.get("where") is not None:
        o["where"] = _where(w + "where", o["where"])
    if o.get("title") is not None and not isinstance(o["title"], str):
        raise _bad(w + "title", o["title"], "must be a string")
    if kind in ("loss_curves", "curve_gap") and o["split"] not in SPLITS:
        raise _bad(w + "split", o["split"], f"allowed: {', '.join(SPLITS)}")
    if kind == "loss_curves":
        if o["band"] not in BANDS:
            raise _bad(w + "band", o["band"], f"allowed: {', '.join(BANDS)}")
        if o["logy"] not in LOGY:
            raise _bad(w + "logy", o["logy"], "allowed: auto, true, false")
    elif kind == "stability_grid":
        o["x"], o["y"] = _dotted(w + "x", o["x"]), _dotted(w + "y", o["y"])
        if o["facet"] is not None:
            o["facet"] = _dotted(w + "facet", o["facet"])
    elif kind in ("alpha_std", "scurve"):
        o["layers"] = _layers(w + "layers", o["layers"])
    elif kind == "metric_vs":
        o["x"] = _dotted(w + "x", o["x"])
        if not isinstance(o["logx"], bool):
            raise _bad(w + "logx", o["logx"], "allowed: true, false")
    if kind in ("alpha_vs_inv_std", "scurve", "layer_stats", "branch_stats"):
        o["step"] = _step(w + "step", o["step"])
    if kind == "scurve":
        tol = o["tolerance"]
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
            raise _bad(w + "tolerance", tol, "must be a number between 0 and 1 (0.1: the linear range ends where the fitted tanh is 10 % below its tangent)")
    if kind == "sample_grids" and (not isinstance(o["image"], str) or not re.fullmatch(r"\w+", o["image"])):
        raise _bad(w + "image", o["image"], "must be the name of a run's images (images/val_<image>_step*.png), "
                                             "e.g. samples")
    if kind == "curve_gap":
        o["pairs"] = _pairs(w + "pairs", o["pairs"])
        smooth = o["smooth"]
        if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
            raise _bad(w + "smooth", smooth, "must be an integer >= 1 (a moving-average window in logged points; 1: no smoothing)")
    counts[kind] = counts.get(kind, 0) + 1
    stem = kind if counts[kind] == 1 else f"{kind}_{counts[kind]}"
    return FigureSpec(kind=kind, options=o, stem=stem)


def _default_higher(metric: str) -> bool:
    # accuracy-like metrics: higher is better; losses, errors, perplexities, bits per byte, FIDs: lower
    return not any(word in metric.lower() for word in ("loss", "err", "ppl", "perplexity", "bpb", "fid"))


def parse_spec(raw: Any = None, source: str = "report") -> ReportSpec:
    """A ReportSpec from None (the default), a ReportSpec, a mapping or OmegaConf config (with
    or without the `report:` level), or a path to a YAML file that holds a `report:` mapping."""
    if isinstance(raw, ReportSpec):
        return raw
    if isinstance(raw, (str, Path)):
        return load_spec(raw)
    if isinstance(raw, (DictConfig, ListConfig)):  # a study's Hydra config: plain containers from here on
        raw = OmegaConf.to_container(raw, resolve=True)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise _bad(source, raw, "must be a mapping of report keys: " + ", ".join(TOP_KEYS))
    if "report" in raw and isinstance(raw.get("report"), (Mapping, type(None))):
        raw = raw["report"] or {}
    for key in raw:
        if key not in TOP_KEYS:
            raise ReportError(f"{source}.{key} is not a report key; allowed: {', '.join(TOP_KEYS)}")
    metric = _metric(f"{source}.metric", raw.get("metric", "val/acc1"))
    group_by = _key_list(f"{source}.group_by", raw.get("group_by", ["variant"]))
    if not group_by:
        raise _bad(f"{source}.group_by", [], "must name at least one key, e.g. [variant]")
    columns = _key_list(f"{source}.columns", raw.get("columns", []) or [])
    higher = raw.get("higher_is_better", _default_higher(metric))
    if not isinstance(higher, bool):
        raise _bad(f"{source}.higher_is_better", higher, "must be true or false")
    decimals = raw.get("decimals", 1 if higher else 3)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 8:
        raise _bad(f"{source}.decimals", decimals, "must be an integer from 0 to 8")
    figures_raw = raw.get("figures", ["loss_curves"])
    if figures_raw is None:
        figures_raw = []
    if not isinstance(figures_raw, (list, tuple)):
        raise _bad(f"{source}.figures", figures_raw, "must be a list of figures, e.g. [{kind: loss_curves}]")
    counts: dict[str, int] = {}
    figures = tuple(_figure(i, f, counts) for i, f in enumerate(figures_raw))
    return ReportSpec(metric=metric, group_by=group_by, columns=columns, figures=figures,
                      higher_is_better=higher, decimals=decimals)


def load_spec(path: str | Path) -> ReportSpec:
    """The `report:` mapping of a study YAML file (the default spec when it has none)."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"study file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ReportError(f"study file {path} is not valid YAML: {e}") from None
    if not isinstance(data, Mapping):
        raise ReportError(f"study file {path} holds a {type(data).__name__}, not a mapping")
    report = data.get("report")
    if report is not None and not isinstance(report, Mapping):
        raise _bad(f"{path}: report", report, "must be a mapping of report keys: " + ", ".join(TOP_KEYS))
    return parse_spec(report or {}, source=f"{path}: report")
