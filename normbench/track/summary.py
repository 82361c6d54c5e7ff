"""summary.json: the run's outcome in one small file (status, final and best metrics, time).

Written atomically at every evaluation and at the end, so a killed run still has a
summary (status "running") and a finished one says ok | diverged | failed; a run stopped by
SIGTERM or Ctrl-C at a step boundary, with a checkpoint to resume from, says "interrupted".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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


# -- a run folder's state, read before training: is it done, or being trained elsewhere? --------
DONE = ("ok", "diverged")  # a finished run: trainer.resume=true leaves it as it is (and resumes
# "running" when its process is gone, "failed" and "interrupted")


def read_run_state(run_dir: str | Path) -> dict | None:
    """summary.json of a run folder, or None when there is none (or a torn/foreign one)."""
    path = Path(run_dir) / "summary.json"
    try:
        return read_summary(path) if path.exists() else None
    except ValueError:
        return None


def alive_elsewhere(summary: dict) -> bool:
    """True when a "running" summary's process is still alive on this host (another sweep or
    launcher is training this folder); a killed run's process is gone, so it is unfinished."""
    import socket

    proc = summary.get("process") or {}
    if summary.get("status") != "running" or proc.get("host") != socket.gethostname() or not proc.get("pid"):
        return False
    if proc["pid"] == os.getpid():
        return False
    try:
        os.kill(proc["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def build_summary(run: Any, status: str, diverged: dict | None = None, error: str | None = None) -> dict:
    """summary.json's content for a training run (normbench.train.loop.Trainer) at this moment."""
    import socket
    import time

    from normbench.track.versions import machine_record, versions

    cfg, task = run.cfg, run.task
    elapsed = run.elapsed_before + (time.perf_counter() - run.t_start)
    final = {k: v for k, v in run.last.items() if not k.startswith("train/") or k == "train/loss"}  # val, test
    per_s = lambda n: round(n / run.train_time, 2) if run.train_time else None  # noqa: E731
    return {
        "status": status,
        "step": run.step,
        "max_steps": cfg.trainer.max_steps,
        "final": final,
        "best": run.best,
        "wall_time_s": round(elapsed, 3),
        "train_time_s": round(run.train_time, 3),
        "action_time_s": {k: round(v, 3) for k, v in run.action_time.items()},
        "throughput_samples_per_s": per_s(run.samples_seen),
        # in the task's unit (images or tokens per second), over the whole train time
        "throughput": {"unit": f"{task.throughput_unit}/s", "value": per_s(run.samples_seen * task.units_per_sample)},
        "num_params": run.num_params,
        "diverged": diverged,
        "error": error,
        "interrupted": run.stop.record() if status == "interrupted" else None,
        "run": {"task": cfg.task.name, "model": cfg.model.name, "norm": cfg.norm.name,
                "normfree": (run.cfg.get("normfree") or {"name": "none"})["name"], "data": cfg.data.name,
                "variant": cfg.get("variant"), "seed": cfg.trainer.seed, "device": str(run.device),
                "world_size": run.dist.world_size},
        "versions": versions(),
        "machine": machine_record(),  # the kind of machine (no host name): the study README's Machine line
        "process": {"host": socket.gethostname(), "pid": os.getpid()},  # who trains it, for sweeps (dropped on commit)
        # the mode wandb runs in: "offline" when online was asked but could not start
        "wandb": {"mode": run.wandb_mode, "id": run.wandb_id},
        "resumed_from": run.resumed_from,  # trainer.resume=<path>: the run this folder continues
    }
