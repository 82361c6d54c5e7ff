"""Readers of the run folder's two event streams: metrics.jsonl and probes.jsonl.

metrics.jsonl is the run's source of truth: reports and tables are rebuilt from it
without wandb. Each line holds `step`, `split` (train | val) and metric names. A resumed
run appends after its checkpoint's step; readers keep the last line written for each
(split, step). probes.jsonl holds one line per norm layer and probe step (`kind`: stats,
scurve or warning); see normbench.probes.
"""

from __future__ import annotations

from pathlib import Path

from normbench.track.jsonl import iter_jsonl


def read_metrics(path: str | Path, split: str | None = None) -> list[dict]:
    """Events of a metrics.jsonl in step order; for a step logged twice (resume) the last wins."""
    latest: dict[tuple[str, int], dict] = {}
    for event in iter_jsonl(path):
        if split is None or event.get("split") == split:
            latest[(event.get("split"), event["step"])] = event
    return sorted(latest.values(), key=lambda e: (e["step"], e.get("split", "")))


def read_probes(path: str | Path, kind: str | None = "stats") -> list[dict]:
    """Lines of a probes.jsonl of one kind (None: all), in step order; after a resume the
    last line of a (kind, step, layer) wins."""
    latest: dict[tuple, dict] = {}
    for i, event in enumerate(iter_jsonl(path)):
        if kind is None or event.get("kind") == kind:
            key = (event.get("kind"), event["step"], event.get("layer"), i if event.get("kind") == "warning" else 0)
            latest[key] = event
    return sorted(latest.values(), key=lambda e: e["step"])
