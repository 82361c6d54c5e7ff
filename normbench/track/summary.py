"""summary.json: the run's outcome in one small file (status, final and best metrics, time).

Written atomically at every evaluation and at the end, so a killed run still has a
summary (status "running") and a finished one says ok | diverged | failed; a run stopped by
SIGTERM or Ctrl-C at a step boundary, with a checkpoint to resume from, says "interrupted".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

STATUSES = ("running", "ok", "diverged", "failed", "interrupted")


def write_summary(path: str | Path, summary: dict) -> None:
    if summary.get("status") not in STATUSES:
        raise ValueError(f"summary status = {summary.get('status')!r}; allowed: {', '.join(STATUSES)}")
    path = Path(path)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def read_summary(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
