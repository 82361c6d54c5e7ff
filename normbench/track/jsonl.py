"""Append-only JSON-lines files (metrics.jsonl, probes.jsonl): one flushed line per event.

A killed run keeps every line it wrote; JSON has no NaN/inf, so a diverged value is
written as the string "nan"/"inf" and the file stays valid JSON for any reader.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator


def clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class JsonlWriter:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, event: dict[str, Any]) -> dict[str, Any]:
        event = {k: clean(v) for k, v in event.items()}
        self._file.write(json.dumps(event) + "\n")
        self._file.flush()
        return event

    def close(self) -> None:
        self._file.close()


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)
