"""A study's run folders as they are committed: light, and free of the machine that made them.

A committed run folder holds config.yaml, summary.json, metrics.jsonl, probes.jsonl and
train.log (checkpoints and wandb folders are ignored by git). Hydra's own records go: `.hydra/`
duplicates config.yaml and carries the launching machine's absolute paths, as does the sweep's
multirun.yaml (study jobs are launched with hydra.output_subdir=null; these remove what older
runs, or a launcher that writes them anyway, left). summary.json's `process` (host and pid)
tells a live sweep whether a "running" run is trained elsewhere; it is kept while a run says
"running" and dropped once it has ended. train.log names folders by absolute path; the
checkout's prefix and the home folder are cut from a finished run's log.

`clean_runs` runs before every study report, so `python sweep.py study=<name> [--report]`
leaves a folder ready to commit, and the report reads exactly what a clone will have.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from normbench.track.summary import write_summary

HYDRA_RECORDS = (".hydra", "multirun.yaml")
MACHINE_KEYS = ("process",)  # summary.json keys that name the machine (host, pid)


def strip_summary(summary: dict) -> dict:
    """A summary as committed: without the machine keys, unless the run still says "running"
    (a live sweep reads them to leave a run another process trains alone)."""
    if summary.get("status") == "running":
        return summary
    return {k: v for k, v in summary.items() if k not in MACHINE_KEYS}


def scrub_log(text: str, root: Path, home: Path | None) -> str:
    """A log with the checkout's absolute prefix cut (paths become repository-relative) and the
    home folder written as ~."""
    text = text.replace(f"{root.as_posix().rstrip('/')}/", "")
    if home is not None and home.as_posix() not in ("/", ""):
        text = text.replace(f"{home.as_posix().rstrip('/')}/", "~/")
    return text


def clean_runs(runs_dir: str | Path, root: Path | None = None, home: Path | None = None) -> dict[str, int]:
    """Make every run folder under `runs_dir` committable (see the module's docstring); returns
    counts of what changed: {"hydra": records removed, "summaries": stripped, "logs": scrubbed}."""
    from normbench.checkout import checkout_root

    runs_dir = Path(runs_dir)
    root = (root or checkout_root()).resolve()
    home = home if home is not None else Path.home()
    done = {"hydra": 0, "summaries": 0, "logs": 0}
    if not runs_dir.is_dir():
        return done
    for name in HYDRA_RECORDS:
        for path in sorted(runs_dir.rglob(name)):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            done["hydra"] += 1
    for path in sorted(runs_dir.rglob("summary.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:  # torn or foreign: the report says so, this leaves it
            continue
        if summary.get("status") == "running":  # live (or killed) runs keep their process and log
            continue
        stripped = strip_summary(summary)
        if stripped != summary:
            write_summary(path, stripped)
            done["summaries"] += 1
        log = path.parent / "train.log"
        if log.is_file():
            text = log.read_text(encoding="utf-8", errors="surrogateescape")
            clean = scrub_log(text, root, home)
            if clean != text:
                log.write_text(clean, encoding="utf-8", errors="surrogateescape")
                done["logs"] += 1
    return done
