"""Per-variant numbers of a study straight from its run folders (summary.json + config.yaml),
for verdicts: the final metric of ok runs and, as the paper counts them, the best metric
before divergence of diverged runs."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    diverged: int = 0
    incomplete: int = 0

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else float("nan")

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    def __str__(self) -> str:
        s = f"{self.mean:.2f} ± {self.std:.2f} (n={self.n})"
        return s + (f", {self.diverged} diverged" if self.diverged else "")


def _final(summary: dict, metric: str) -> float | None:
    final = summary.get("final", {})
    return final.get(metric, final.get(metric.replace("/", "_")))


def collect(runs_dir: Path, keys: tuple[str, ...] = ("variant",), metric: str = "val/acc1") -> dict[tuple, Cell]:
    """{(values of keys): Cell} over every run folder under runs_dir."""
    cells: dict[tuple, Cell] = {}
    for path in sorted(Path(runs_dir).rglob("summary.json")):
        summary = json.loads(path.read_text())
        cfg = OmegaConf.load(path.parent / "config.yaml") if (path.parent / "config.yaml").exists() else None
        key = tuple(OmegaConf.select(cfg, k) if cfg is not None else None for k in keys)
        cell = cells.setdefault(key, Cell())
        status = summary.get("status")
        if status == "ok" and _final(summary, metric) is not None:
            cell.values.append(float(_final(summary, metric)))
        elif status == "diverged":
            cell.diverged += 1
            if summary.get("best", {}).get("value") is not None:
                cell.values.append(float(summary["best"]["value"]))
        else:
            cell.incomplete += 1
    return cells
