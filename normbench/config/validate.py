"""validate_config: every key of a config checked against its schema, one named error.

Why: Hydra composes plain nodes (normbench/config/store.py), so `optim.lr=abc` or
`trainer.seed=abc` reaches the run as a string and used to end in a traceback deep in the
optimizer. Here each group is merged onto its schema dataclass (OmegaConf does the type
checks and the conversions, e.g. the string "1e-3" to a float), and the first mistake
becomes one ConfigError line: "optim.lr = 'abc' is not allowed: must be a float".
Converted values are written back into the config, so the code that reads it sees the
types the schema promises. Value ranges are the business of the code that uses a value.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Mapping, MutableMapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from normbench.errors import ConfigError

from .groups import groups
from .schema import ALLOWED, RunConfig

_TOP_LEVEL = tuple(f.name for f in dataclasses.fields(RunConfig))
# Hydra's own node, present only when a caller composes with return_hydra_config=True.
_NOT_OURS = ("hydra",)


def validate_config(cfg: MutableMapping, group: str | None = None) -> MutableMapping:
    """Check the types of every key of `cfg` against the schema and convert in place.

    cfg: the whole composed train config (a DictConfig from Hydra, or a dict), or with
    `group` ("optim", "model", ...) the config of that one group. Returns cfg.
    Raises normbench.errors.ConfigError naming the key, the value and what is allowed.
    A model of unknown model.name is left to build_model, and a task of unknown task.name to
    the loop's check_task, which name the allowed ones.
    """
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"the config must be a mapping, got {_show(cfg)}")
    schemas = groups()
    if group is not None:
        if group not in schemas:
            raise ConfigError(f"group = {group!r} is unknown; allowed: {', '.join(schemas)}")
        _validate_node(cfg, _schema_of(schemas[group], cfg), group)
        return cfg
    allowed = (*schemas, *_TOP_LEVEL)
    for key in cfg:
        if key not in allowed and key not in _NOT_OURS:
            raise ConfigError(f"{key} = {_show(_plain(cfg)[key])} is not a known key; allowed: {', '.join(allowed)}")
    _validate_node(cfg, RunConfig, "", keys=_TOP_LEVEL)
    for name in schemas:
        if name not in cfg:
            continue
        node = cfg[name]
        if not isinstance(node, Mapping):
            raise ConfigError(f"{name} = {_show(_plain(cfg)[name])} is not allowed: must be a mapping (a config group)")
        _validate_node(node, _schema_of(schemas[name], node), name)
    return cfg


def _schema_of(schema: type | dict[str, type], node: Mapping) -> type | None:
    if isinstance(schema, dict):  # one schema per model family or task; an unknown name is the builder's error
        name = node.get("name")
        return schema.get(name) if isinstance(name, str) else None
    return schema


def _validate_node(node: MutableMapping, cls: type | None, prefix: str, keys: tuple[str, ...] | None = None) -> None:
    if cls is None:
        return
    original = _plain(node)
    if keys is not None:  # the top level: only the keys that are not groups
        original = {k: v for k, v in original.items() if k in keys}
    _check_subnodes(cls, original, prefix)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), original)
    except OmegaConfBaseException as err:
        raise _named_error(err, cls, prefix, original) from None
    converted = OmegaConf.to_container(merged, resolve=False)
    _write_back(node, original, converted)


def _check_subnodes(cls: type, plain: dict, prefix: str) -> None:
    # OmegaConf does not say which key it was when a mapping key gets a scalar (data.augment=3)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        sub, value = _dataclass_in(hints[f.name]), plain.get(f.name)
        if sub is None or f.name not in plain or _is_unset_or_interpolation(value):
            continue
        if value is None and type(None) in typing.get_args(hints[f.name]):
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"{_join(prefix, f.name)} = {_show(value)} is not allowed: must be {_describe(hints[f.name])}")
        _check_subnodes(sub, value, _join(prefix, f.name))


def _is_unset_or_interpolation(value: Any) -> bool:
    return isinstance(value, str) and (value == "???" or value.startswith("${"))


def _named_error(err: OmegaConfBaseException, cls: type, prefix: str, original: dict) -> ConfigError:
    # OmegaConf's full_key is relative to the merged node: "lr", "augment.crop_padding", "betas[1]"
    path = [p for p in re.sub(r"\[\d+\]", "", err.full_key or "").split(".") if p]
    if isinstance(err, ConfigKeyError) and path:
        *parents, key = path
        owner, _ = _field_at(cls, parents)
        value = _value_at(original, path)
        allowed = ", ".join(f.name for f in dataclasses.fields(owner)) if owner else "?"
        return ConfigError(f"{_join(prefix, *path)} = {_show(value)} is not a known key; allowed: {allowed}")
    _, hint_and_meta = _field_at(cls, path)
    what = _describe(*hint_and_meta) if hint_and_meta else "a mapping"
    value = _value_at(original, path) if path else err.value
    return ConfigError(f"{_join(prefix, *path)} = {_show(value)} is not allowed: must be {what}")


def _field_at(cls: type, path: list[str]) -> tuple[type | None, tuple | None]:
    """(the dataclass that owns the last key of `path`, (that key's type hint, its metadata)
    or None where the dataclass has no such key)."""
    owner = cls
    for i, key in enumerate(path):
        if not dataclasses.is_dataclass(owner):
            return None, None
        fields = {f.name: f for f in dataclasses.fields(owner)}
        if key not in fields:
            return (owner if i == len(path) - 1 else None), None
        hint = typing.get_type_hints(owner)[key]
        if i == len(path) - 1:
            return owner, (hint, fields[key].metadata)
        owner = _dataclass_in(hint)
    return owner, None


def _dataclass_in(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint
    return next((a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)), None)


_NAMES = {int: ("an int", "ints"), float: ("a float", "floats"), bool: ("a bool (true or false)", "bools"),
          str: ("a string", "strings")}


def _describe(hint: Any, metadata: Mapping = {}) -> str:
    if ALLOWED in metadata:
        return metadata[ALLOWED]
    args = typing.get_args(hint)
    if type(None) in args:  # Optional[X]
        rest = [a for a in args if a is not type(None)]
        inner = _describe(rest[0]) if len(rest) == 1 else " or ".join(_describe(a) for a in rest)
        return f"null or {inner}"
    if typing.get_origin(hint) in (list, typing.List):
        item = args[0] if args else Any
        return f"a list of {_NAMES[item][1]}" if item in _NAMES else "a list"
    if dataclasses.is_dataclass(hint):
        return f"a mapping with keys {', '.join(f.name for f in dataclasses.fields(hint))}"
    return _NAMES[hint][0] if hint in _NAMES else str(hint)


def _plain(node: Any) -> Any:
    """A plain copy, interpolations left as written (resolving may need Hydra's resolvers)."""
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=False)
    if isinstance(node, Mapping):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node


def _value_at(plain: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(plain, Mapping) or key not in plain:
            return None
        plain = plain[key]
    return plain


def _same(a: Any, b: Any) -> bool:
    # type-strict: the string "1e-3" and 0.001 differ, and so do 1 and 1.0 for a float key
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _write_back(node: MutableMapping, original: dict, converted: dict) -> None:
    """Set in `node` each value the schema converted ("1e-3" -> 0.001), nothing else."""
    for key, value in original.items():
        new = converted[key]
        if isinstance(value, dict) and isinstance(new, dict):
            _write_back(node[key], value, new)
        elif not _same(value, new):
            node[key] = new


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _show(value: Any) -> str:
    return repr(_plain(value))
