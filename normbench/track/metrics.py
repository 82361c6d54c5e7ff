"""metrics.jsonl: one JSON object per logged event, appended and flushed as it happens.

It is the run's source of truth: reports and tables are rebuilt from it without wandb.
Each line holds `step`, `split` (train | val) and metric names. A resumed run appends
after its checkpoint's step; readers keep the last line written for each (split, step).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    # JSON has no NaN/inf: a diverged loss is written as a string so the file stays valid JSON.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsWriter:
    """Appends events to metrics.jsonl, one flushed line each, so a killed run keeps them."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, step: int, split: str, **metrics: Any) -> dict:
        event = {"step": int(step), "split": split, **{k: _clean(v) for k, v in metrics.items()}}
        self._file.write(json.dumps(event) + "\n")
        self._file.flush()
        return event

    def close(self) -> None:
        self._file.close()


def read_metrics(path: str | Path, split: str | None = None) -> list[dict]:
    """Events of a metrics.jsonl in step order; for a step logged twice (resume) the last wins."""
    latest: dict[tuple[str, int], dict] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            event = json.loads(line)
            if split is None or event.get("split") == split:
                latest[(event.get("split"), event["step"])] = event
    return sorted(latest.values(), key=lambda e: (e["step"], e.get("split", "")))
