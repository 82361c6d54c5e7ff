"""Run folders -> Run objects: the one place that reads a run folder for the report.

A run folder is any directory that holds summary.json (the run-folder contract; see the
README). Its config.yaml gives the keys a report groups by, summary.json the outcome, and
metrics.jsonl / probes.jsonl the curves, read lazily because only some figures need them.
Every reader here turns the strings "nan"/"inf" that JSON forces on non-finite numbers
back into floats, and accepts the older "val_acc1" metric names beside "val/acc1".
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from normbench.errors import ReportError
from normbench.track.formats import upgrade_config
from normbench.track.names import run_label
from normbench.track import read_metrics, read_probes

SUMMARY = "summary.json"
CHANCE_BAND = 2.0  # points above chance accuracy that still count as chance
CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
PROBES = "probes.jsonl"

COMPLETE = ("ok", "diverged")  # statuses whose numbers enter the tables; running/failed are "incomplete"

_MISSING = object()  # "this key is absent" as a return value
_RAISE = object()  # get_dotted without a default raises KeyError


def to_float(value: Any) -> float | None:
    """A JSON number or one of the strings "nan"/"inf"/"-inf" as a float; None stays None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def split_metric(metric: str, default_split: str | None = None) -> tuple[str | None, str]:
    """"val/acc1" -> ("val", "acc1"); "val_acc1" (older folders) -> ("val", "acc1");
    "loss" -> (default_split, "loss")."""
    if "/" in metric:
        split, name = metric.split("/", 1)
        return split, name
    for split in ("train", "val", "test"):
        if metric.startswith(split + "_"):
            return split, metric[len(split) + 1:]
    return default_split, metric


def lookup_metric(mapping: Mapping[str, Any] | None, metric: str) -> Any:
    """mapping[metric] under either naming ("val/acc1" or "val_acc1"); None when absent."""
    if not mapping:
        return None
    split, name = split_metric(metric)
    for key in (metric, f"{split}/{name}", f"{split}_{name}"):
        if key in mapping:
            return mapping[key]
    return None


def get_dotted(config: Mapping[str, Any], key: str, default: Any = _RAISE) -> Any:
    """config["a"]["b"] for key "a.b"; `default` (or KeyError) when a part is missing."""
    node: Any = config
    for part in key.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            if default is _RAISE:
                raise KeyError(key)
            return default
    return node


def dotted_keys(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every leaf key of a nested config as a dotted path (for "did you mean" messages)."""
    keys = []
    for k, v in config.items():
        path = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            keys.extend(dotted_keys(v, path + "."))
        else:
            keys.append(path)
    return keys


def _natural(path: Path) -> list:
    # multirun job folders are 0, 1, ..., 10: sort them as numbers, not as text
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


@dataclass
class Run:
    """One run folder: its resolved config and summary, its event streams read on first use."""

    path: Path
    config: dict
    summary: dict

    # -- identity -------------------------------------------------------------------
    @property
    def status(self) -> str:
        return str(self.summary.get("status", "unknown"))

    @property
    def complete(self) -> bool:
        return self.status in COMPLETE

    @property
    def seed(self) -> Any:
        return self.key("trainer.seed")

    @property
    def variant(self) -> str:
        """The config's `variant` label, else <model>-<norm>[+<normfree>] (as wandb groups do)."""
        label = self.config.get("variant")
        if label not in (None, ""):
            return str(label)
        model = get_dotted(self.config, "model.name", None) or (self.summary.get("run") or {}).get("model")
        norm = get_dotted(self.config, "norm.name", None) or (self.summary.get("run") or {}).get("norm")
        normfree = get_dotted(self.config, "normfree.name", None) or (self.summary.get("run") or {}).get("normfree")
        return run_label(model, norm, normfree)

    def key(self, key: str) -> Any:
        """The value of a dotted config key ("variant" falls back to <model>-<norm>, "task" is
        task.name); None if absent."""
        if key == "variant":
            return self.variant
        key = _ALIASES.get(key, key)
        value = get_dotted(self.config, key, _MISSING)
        if value is _MISSING:
            # folders without config.yaml still carry model/norm/seed in summary.json's "run"
            fallback = {"model.name": "model", "norm.name": "norm", "trainer.seed": "seed",
                        "data.name": "data", "task.name": "task"}.get(key)
            return (self.summary.get("run") or {}).get(fallback) if fallback else None
        return value

    def has_key(self, key: str) -> bool:
        return key == "variant" or get_dotted(self.config, _ALIASES.get(key, key), _MISSING) is not _MISSING

    # -- outcome --------------------------------------------------------------------
    @property
    def diverged_step(self) -> int | None:
        d = self.summary.get("diverged")
        return d.get("step") if isinstance(d, Mapping) else None

    @property
    def diverged_loss(self) -> float | None:
        d = self.summary.get("diverged")
        return to_float(d.get("loss")) if isinstance(d, Mapping) else None

    def final(self, metric: str) -> float | None:
        """The final value of `metric`: summary.json's, else the last logged one."""
        value = to_float(lookup_metric(self.summary.get("final"), metric))
        if value is None:
            steps, values = self.series(metric)
            value = values[-1] if values else None
        return value

    def best(self, metric: str, higher_is_better: bool = True) -> tuple[float | None, int | None]:
        """(value, step) of the best `metric`: summary.json's when it names this metric,
        else computed from metrics.jsonl over finite values."""
        best = self.summary.get("best") or {}
        if best.get("metric") is not None and split_metric(best["metric"]) == split_metric(metric):
            value = to_float(best.get("value"))
            if value is not None and math.isfinite(value):
                return value, best.get("step")
        steps, values = self.series(metric)
        finite = [(v, s) for s, v in zip(steps, values) if math.isfinite(v)]
        if not finite:
            return None, None
        pick = max if higher_is_better else min
        return pick(finite, key=lambda vs: vs[0])

    @property
    def chance(self) -> float | None:
        """Chance accuracy (%) of a classification run, 100 / classes (CIFAR-100 100, synthetic
        data its data.synthetic.num_classes, every other image set 10); None for other tasks."""
        if (self.key("task") or "classify") != "classify":
            return None
        name = self.key("data.name")
        classes = 100 if name == "cifar100" else (self.key("data.synthetic.num_classes") or 10) if name == "synthetic" else 10
        return 100.0 / classes

    def at_chance(self, metric: str) -> bool:
        """A complete run that ended at chance on an accuracy `metric` (within CHANCE_BAND points),
        with or without a NaN: a collapse the status alone ("ok") does not show."""
        if not self.complete or self.chance is None or not split_metric(metric)[1].startswith("acc"):
            return False
        final = self.final(metric)
        return final is not None and final <= self.chance + CHANCE_BAND

    @property
    def image_data(self) -> bool:
        """A run on an image data set (classify or generate); False for text (task=lm)."""
        return self.key("task") != "lm" and self.key("data.name") not in (None, "shakespeare", "text")

    @property
    def predates_val_split(self) -> bool:
        """An image run (classify or generate) made before data.val_split existed: its val/* is the
        held-out test images, and every training image was trained on (a run made since carves
        val/* from them)."""
        return self.image_data and not self.has_key("data.val_split")

    @property
    def text_test_fraction(self) -> float | None:
        """A language-model run's held-out test fraction (data.test_fraction; 0 for runs made before
        the key, whose val/* is the corpus's last val_fraction); None for other tasks. Runs with
        different fractions measure val/* on different bytes."""
        if self.key("task") != "lm":
            return None
        return float(self.key("data.test_fraction") or 0.0)

    def value(self, metric: str, higher_is_better: bool = True) -> float | None:
        """The number this run puts in a table: the final value of an ok run, the best value
        before divergence of a diverged one (the paper's "58.5 -> failed"), None otherwise."""
        if self.status == "ok":
            return self.final(metric)
        if self.status == "diverged":
            return self.best(metric, higher_is_better)[0]
        return None

    # -- event streams --------------------------------------------------------------
    @cached_property
    def metrics(self) -> list[dict]:
        """metrics.jsonl events in step order, the last line of a (split, step) kept."""
        path = self.path / METRICS
        return read_metrics(path) if path.exists() else []

    @cached_property
    def probes(self) -> list[dict]:
        """probes.jsonl lines of every kind (stats, scurve, warning) in step order; [] without the file."""
        path = self.path / PROBES
        if not path.exists():
            return []
        lines = read_probes(path, kind=None)
        for line in lines:
            line.setdefault("kind", "stats")  # the first probe format had no kind: it was stats only
        return lines

    def probe_lines(self, kind: str) -> list[dict]:
        return [line for line in self.probes if line.get("kind") == kind]

    def series(self, metric: str, split: str | None = None) -> tuple[list[int], list[float]]:
        """(steps, values) of one metric ("train/loss", or "loss" with split="train")."""
        s, name = split_metric(metric, split)
        steps, values = [], []
        for event in self.metrics:
            if event.get("split") == s and name in event:
                raw = event[name]
            else:
                # older flat lines: {"step", "val_acc1": ...} or {"step", "val/acc1": ...}
                raw = lookup_metric(event, f"{s}/{name}") if s else None
                if raw is None:
                    continue
            value = to_float(raw)
            if value is not None:
                steps.append(int(event["step"]))
                values.append(value)
        return steps, values

    @property
    def probe_warnings(self) -> int | None:
        """How many health warnings probes.jsonl holds (None when the run has no probes.jsonl)."""
        if not (self.path / PROBES).exists():
            return None
        return len(self.probe_lines("warning"))


def find_run_dirs(folder: str | Path) -> list[Path]:
    """Every folder under `folder` (itself included) that holds summary.json."""
    folder = Path(folder)
    if not folder.exists():
        raise ReportError(f"run folder {folder} does not exist")
    if not folder.is_dir():
        raise ReportError(f"run folder {folder} is not a directory")
    found = [p.parent for p in folder.rglob(SUMMARY) if p.is_file() and "wandb" not in p.parent.parts[len(folder.parts):]]
    return sorted(found, key=_natural)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ReportError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path} holds a {type(data).__name__}, not a JSON object")
    return data


_ALIASES = {"task": "task.name"}  # a run's task is the name of its task group


def load_run(path: str | Path) -> Run:
    path = Path(path)
    summary = _read_json(path / SUMMARY)
    config: dict = {}
    if (path / CONFIG).exists():
        try:
            config = yaml.safe_load((path / CONFIG).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ReportError(f"{path / CONFIG} is not valid YAML: {e}") from None
        if not isinstance(config, dict):
            raise ReportError(f"{path / CONFIG} holds a {type(config).__name__}, not a mapping of config keys")
        config = upgrade_config(config)
    return Run(path=path, config=config, summary=summary)


def load_runs(folders: Iterable[str | Path] | str | Path) -> list[Run]:
    """Every run under the given folders (searched recursively), each once, in a stable order.

    Raises ReportError naming the folders when none holds a run.
    """
    if isinstance(folders, (str, Path)):
        folders = [folders]
    folders = list(folders)
    if not folders:
        raise ReportError("no folders given: pass run folders or a study folder (results/<study>)")
    seen: set[Path] = set()
    runs: list[Run] = []
    for folder in folders:
        for run_dir in find_run_dirs(folder):
            real = run_dir.resolve()
            if real in seen:  # results/x and results/x/runs given together: count each run once
                continue
            seen.add(real)
            runs.append(load_run(run_dir))
    if not runs:
        where = ", ".join(str(f) for f in folders)
        raise ReportError(f"no run folders ({SUMMARY}) under {where}")
    return runs
