"""The schema as Hydra config nodes, so configs/*.yaml are presets of it.

Each schema dataclass is stored in Hydra's ConfigStore as a PLAIN node (its defaults, no
types) under the group `schema`: /schema/norm (the norms' union, normbench/norms/registry.py),
/schema/normfree, /schema/model/<name> (each model's config, normbench/models/registry.py),
/schema/data, /schema/data_synthetic, /schema/optim, /schema/trainer, /schema/logger,
/schema/probe, /schema/task/<name> (each task's Config, normbench/train/task.py), /schema/run
(the top-level keys). A model or task stores its own node when it registers (store_node). A preset starts from one and holds only what differs:

    # configs/norm/dyt.yaml
    defaults:
      - /schema/norm@_here_
      - _self_
    name: dyt

Why plain and not the dataclass itself: a typed node makes Hydra reject `optim.lr=abc`
with a multi-line OmegaConf error and a traceback; a plain node lets composition through,
and validate_config then names the key, the value and what is allowed in one line.
Unknown keys stay Hydra's error: the composed config is in struct mode.

register() runs when normbench.config is imported, which every normbench package does
(through its defaults), so train.py and the tests find the nodes before Hydra composes.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from omegaconf import OmegaConf

from .schema import (
    DataConfig,
    LoggerConfig,
    NormFreeConfig,
    OptimConfig,
    ProbeConfig,
    RunConfig,
    SyntheticConfig,
    TrainerConfig,
)

SCHEMA_GROUP = "schema"

NODES: dict[str, type] = {
    "normfree": NormFreeConfig,
    "data": DataConfig,
    "data_synthetic": SyntheticConfig,  # data=synthetic adds it at data.synthetic
    "optim": OptimConfig,
    "trainer": TrainerConfig,
    "logger": LoggerConfig,
    "probe": ProbeConfig,
    "run": RunConfig,
}


def _is_optional_subnode(hint: Any) -> bool:
    args = typing.get_args(hint)
    return type(None) in args and any(dataclasses.is_dataclass(a) for a in args)


def plain_node(cls: type) -> dict[str, Any]:
    """The schema's defaults as an untyped dict; an optional sub-node whose default is null
    (data.synthetic) is left out, so only the presets that use it have it."""
    node = OmegaConf.to_container(OmegaConf.structured(cls))
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.default is None and _is_optional_subnode(hints[f.name]):
            node.pop(f.name)
    return node


def store_node(path: str, cls: type) -> None:
    """Store the plain node of schema `cls` at /schema/<path> (again: the newer one wins)."""
    from hydra.core.config_store import ConfigStore

    group, _, name = f"{SCHEMA_GROUP}/{path}".rpartition("/")
    ConfigStore.instance().store(group=group, name=name, node=OmegaConf.create(plain_node(cls)))


_registered = False


def register() -> None:
    """Store every schema node in Hydra's ConfigStore (once per process); the models and tasks
    store theirs as they register, which listing them here makes the built-in ones and the
    plugins do."""
    global _registered
    if _registered:
        return
    _registered = True
    from normbench.models.registry import models
    from normbench.norms.registry import norm_config  # the norms' union: built after the plugins load
    from normbench.train.task import tasks

    for path, cls in {"norm": norm_config(), **NODES}.items():
        store_node(path, cls)
    models()
    tasks()
