"""Versions a run was made with (torch, timm, normbench, python, git commit), for summary.json:
a number in a results table is only citable with the code that made it."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    repo = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


@lru_cache(maxsize=1)
def versions() -> dict[str, str | None]:
    import torch

    return {
        "normbench": _version("normbench"),
        "torch": torch.__version__,
        "timm": _version("timm"),
        "python": platform.python_version(),
        "git": _git_commit(),
    }


@lru_cache(maxsize=1)
def machine_record() -> dict[str, object]:
    """The hardware a run was made on, for summary.json's `machine` (the study README's Machine
    line is read from it): CPU kind and cores, GPU, OS. No host name: a committed run names the
    kind of machine, not which one."""
    import os

    import torch

    return {
        "cpu": platform.machine(),
        "cpu_cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "os": f"{platform.system()} {platform.release()}",
    }
