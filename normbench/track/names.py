"""The one naming rule for numbers, and the names of wandb runs.

A metric `m` of split `s` is `s/m` everywhere: wandb series, summary.json's `final` and
`best.metric`, reports. Probe series are `probe/<layer>/<stat>` so a wandb section per
layer shows its alpha beside its 1/std.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def metric_key(split: str, name: str) -> str:
    return f"{split}/{name}"


def probe_key(layer: str, stat: str) -> str:
    return f"probe/{layer}/{stat}"


def run_label(model: Any, norm: Any, normfree: Any = None) -> str:
    """<model>-<norm>, plus +<normfree> when a normalization-free transform is on: the label
    of a run without a `variant` (wandb group, report rows)."""
    label = f"{model}-{norm}"
    return label if normfree in (None, "", "none") else f"{label}+{normfree}"


def default_group(cfg: Any) -> str:
    """A run's wandb group when the config names none: its variant, else run_label."""
    normfree = (cfg.get("normfree") or {}).get("name")
    return cfg.get("variant") or run_label(cfg.model.name, cfg.norm.name, normfree)


def wandb_names(cfg: Any, run_dir: str | Path, hydra: Any = None) -> tuple[str, str]:
    """(group, name) of the wandb run: the config's, else from Hydra (a sweep is one group and
    a job is named by its overrides), else the variant / run folder."""
    w = cfg.logger.wandb
    group, name = w.group, w.name
    if hydra is not None and hydra.mode.name == "MULTIRUN":
        sweep = Path(hydra.sweep.dir)
        group = group or f"sweep-{sweep.parent.name}-{sweep.name}"
        name = name or f"{hydra.job.num}:{hydra.job.override_dirname or 'defaults'}"
    return group or default_group(cfg), name or Path(run_dir).name
