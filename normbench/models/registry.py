"""The model registry: every model's ModelSpec by config name, and what is derived from them.

The built-in models are the modules of this package that call register_model; plugins come
from NORMBENCH_PLUGINS (normbench/plugins.py). Each registration also stores the model's
/schema/model/<name> node in Hydra's ConfigStore, so a model registered while normbench.config
is still being imported (or by a plugin, later) is composable all the same.
"""

from __future__ import annotations

import dataclasses

from normbench.plugins import load_components

from .spec import KINDS, ModelSpec

_NOT_MODELS = {"build", "config", "find_norms", "fit", "registry", "replace", "spec"}  # modules holding no model
_MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """`model=<spec.name>` builds this model; returns spec (a model file keeps it as SPEC)."""
    if spec.kind not in KINDS:
        raise TypeError(f"model {spec.name!r}: kind = {spec.kind!r}; allowed: {', '.join(KINDS)}")
    if not dataclasses.is_dataclass(spec.config) or spec.config().name != spec.name:
        raise TypeError(f"model {spec.name!r}: config must be a dataclass whose name defaults to {spec.name!r}")
    old = _MODELS.get(spec.name)
    if old is not None and old.build.__module__ != spec.build.__module__:
        raise TypeError(f"model name {spec.name!r} is taken by {old.build.__module__}")
    _MODELS[spec.name] = spec
    from normbench.config.store import store_node  # lazily: normbench.config imports this registry

    store_node(f"model/{spec.name}", spec.config)
    return spec


def models() -> dict[str, ModelSpec]:
    """{name: spec} of every registered model, built-in and plugin."""
    load_components(__package__, _NOT_MODELS)
    return dict(_MODELS)


def model_names() -> tuple[str, ...]:
    return tuple(sorted(models()))


def model_tasks() -> dict[str, str]:
    """{model name: the task it trains on}."""
    return {name: spec.task for name, spec in sorted(models().items())}


def model_configs() -> dict[str, type]:
    """{model name: its config dataclass}: the `model` group's schema, one per model."""
    return {name: spec.config for name, spec in models().items()}


def grad_checkpointing_models() -> tuple[str, ...]:
    return tuple(name for name, spec in sorted(models().items()) if spec.grad_checkpointing)
