"""Config group -> its schema: the fixed groups of schema.py and the ones the registries make:
`model` and `task` (one schema per model / task: each one's own config dataclass,
normbench/models/registry.py, normbench/train/task.py) and `norm`, the union of the registered
norms' Options (normbench/norms/registry.py); plugins included."""

from __future__ import annotations

from .schema import GROUPS as FIXED


def model_configs() -> dict[str, type]:
    from normbench.models.registry import model_configs

    return model_configs()


def task_configs() -> dict[str, type]:
    from normbench.train.task import task_configs

    return task_configs()


def groups() -> dict[str, type | dict[str, type]]:
    """Every config group's schema, as of now (a plugin may have registered a component since),
    in the order a config is written in: model, norm, normfree, data, ..., task."""
    from normbench.norms.registry import norm_config

    return {"model": model_configs(), "norm": norm_config(), **FIXED, "task": task_configs()}
