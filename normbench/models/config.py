"""Reading the `model` and `norm` config groups into plain dicts.

Why: build_model accepts an OmegaConf DictConfig (from Hydra) or a plain dict (from a
notebook or a test); each model module then sees one plain, complete, checked dict, and
every mistake is reported with the key, the bad value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from normbench.errors import ModelConfigError


def to_plain_dict(cfg: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """A resolved, plain copy of a config mapping (DictConfig or dict)."""
    if cfg is None:
        raise ModelConfigError(f"the {what} config is missing")
    try:  # OmegaConf is optional for callers that pass plain dicts
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return dict(OmegaConf.to_container(cfg, resolve=True))
    except ImportError:  # pragma: no cover
        pass
    if not isinstance(cfg, Mapping):
        raise ModelConfigError(f"the {what} config must be a mapping, got {type(cfg).__name__}")
    return dict(cfg)


def with_defaults(cfg: dict[str, Any], defaults: Mapping[str, Any], model: str) -> dict[str, Any]:
    """`defaults` overridden by `cfg`; an unknown key in `cfg` is an error, not ignored,
    so a typo (model.emb_dim=256) cannot silently train the default model."""
    allowed = {"name", *defaults}
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise ModelConfigError(
            f"model.{unknown[0]} is not a key of model={model}; allowed: {', '.join(sorted(allowed))}"
        )
    return {**defaults, **cfg}


def require_choice(cfg: Mapping[str, Any], key: str, allowed: Iterable[Any]) -> None:
    allowed = list(allowed)
    if cfg[key] not in allowed:
        raise ModelConfigError(
            f"model.{key} = {cfg[key]!r} is not allowed; allowed: {', '.join(map(str, allowed))}"
        )


def require_positive_ints(cfg: Mapping[str, Any], *keys: str) -> None:
    for key in keys:
        value = cfg[key]
        values = value if isinstance(value, (list, tuple)) else [value]
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
            raise ModelConfigError(f"model.{key} = {value!r} must be a positive integer (or a non-empty list of them)")


def require_same_length(cfg: Mapping[str, Any], a: str, b: str, max_len: int | None = None) -> None:
    if len(cfg[a]) != len(cfg[b]):
        raise ModelConfigError(
            f"model.{a} = {cfg[a]} and model.{b} = {cfg[b]} must have the same length (one entry per stage)"
        )
    if max_len is not None and len(cfg[a]) > max_len:
        raise ModelConfigError(f"model.{a} = {cfg[a]} has more than {max_len} stages")
