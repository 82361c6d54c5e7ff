"""The registry: every norm's class by config name, the `norm` schema they add up to, build_norm.

The built-in norms are the modules of this package (each registers itself with
@register_norm, base.py); plugins come from NORMBENCH_PLUGINS (normbench/plugins.py). Hydra's
``norm`` group names a layer (``norm=dyt``); models ask build_norm for one at each place, with
the layout of that place.

The `norm` schema is the union of the norms' Options (plus options.SharedOptions): a key two
norms share must have the same type and check; where their defaults differ (eps) the union's
is None, "each norm's own".
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import typing
from collections.abc import Mapping
from typing import Any, Optional

from omegaconf import MISSING
from torch import nn

from normbench.errors import NormConfigError
from normbench.plugins import load_components

from .base import CHANNELS_LAST, NormLayer, registered_norms
from .options import CHECK, DOC, FACTORY_KEYS, SharedOptions, optional

_NOT_NORMS = {"base", "options", "registry", "factory", "fused"}  # modules of this package that hold no norm


def norms() -> dict[str, type[NormLayer]]:
    """{name: class} of every registered norm, built-in and plugin."""
    load_components(__package__, _NOT_NORMS)
    return registered_norms()


def norm_names() -> tuple[str, ...]:
    return tuple(sorted(norms()))


def conditional_norm_names() -> tuple[str, ...]:
    return tuple(n for n, cls in sorted(norms().items()) if cls.conditional)


def norm_class(name: object) -> type[NormLayer]:
    """The NormLayer class registered under name, else NormConfigError."""
    classes = norms()
    if not isinstance(name, str) or name not in classes:
        raise NormConfigError(f"norm.name = {name!r} is unknown; allowed: {', '.join(sorted(classes))}")
    return classes[name]


def supported_layouts(name: str) -> tuple[str, ...]:
    return norm_class(name).layouts


# -- the union of the norms' options: the `norm` config group --------------------------------
@dataclasses.dataclass(frozen=True)
class Key:
    """One key of the `norm` group: its type, default and check, and the norms that use it."""

    name: str
    type: Any
    default: Any
    check: Any
    doc: str
    norms: tuple[str, ...]


def _same_check(a, b) -> bool:
    inner = lambda c: getattr(c, "inner", c)  # noqa: E731
    a, b = inner(a), inner(b)
    return a is b or (getattr(a, "allowed", None) is not None and getattr(a, "allowed", None) == getattr(b, "allowed", None))


def norm_keys() -> dict[str, Key]:
    """Every `norm` key (without name): per key the union of what the norms declare."""
    # DyT's keys first (the norm the project studies), then the others by name
    return _union(tuple(sorted(norms().items(), key=lambda item: (item[0] != "dyt", item[0]))))


@functools.lru_cache(maxsize=8)  # keyed by the registered classes: a plugin loaded later gets a new union
def _union(classes: tuple[tuple[str, type[NormLayer]], ...]) -> dict[str, Key]:
    sources = [(n, cls.Options) for n, cls in classes] + [("", SharedOptions)]
    keys: dict[str, Key] = {}
    for owner, options in sources:
        hints = typing.get_type_hints(options)
        for f in dataclasses.fields(options):
            owners = (owner,) if owner else ()
            new = Key(f.name, hints[f.name], f.default, f.metadata[CHECK], f.metadata.get(DOC, ""), owners)
            old = keys.get(f.name)
            if old is None:
                keys[f.name] = new
                continue
            base_type = lambda t: typing.get_args(t)[0] if typing.get_origin(t) is typing.Union else t  # noqa: E731
            if base_type(old.type) != base_type(new.type) or not _same_check(old.check, new.check):
                raise TypeError(f"norm option {f.name!r}: norm={owner} declares {new.type} with check "
                                f"{getattr(new.check, '__name__', new.check)}, norm={old.norms[0]} {old.type} with "
                                f"{getattr(old.check, '__name__', old.check)}; a shared key must mean the same")
            if old.default != new.default:  # e.g. eps: None in the union means each norm's own
                keys[f.name] = Key(f.name, Optional[base_type(old.type)], None,
                                   old.check if old.default is None else optional(old.check),
                                   old.doc + " (null: each norm's own default)" * (old.default is not None),
                                   old.norms + owners)
            else:
                keys[f.name] = dataclasses.replace(old, norms=old.norms + owners)
    return keys


def norm_config() -> type:
    """The `norm` group's schema (a dataclass for Hydra's ConfigStore): name plus every key."""
    fields = [("name", str, dataclasses.field(default=MISSING))]
    fields += [(k.name, k.type, dataclasses.field(default=k.default)) for k in norm_keys().values()]
    return dataclasses.make_dataclass("NormConfig", fields)


def norm_defaults() -> dict[str, Any]:
    """The `norm` keys (without name) and their defaults, the factory kwargs included."""
    return {**{k.name: k.default for k in norm_keys().values()}, **{k: None for k in FACTORY_KEYS}}


def resolve_options(options: Mapping[str, object]) -> dict:
    """Check every given option (whatever the norm: a sweep crosses norms with one key) and fill
    the rest with the union's defaults."""
    keys = norm_keys()
    for key, value in options.items():
        if key not in keys and key not in FACTORY_KEYS:
            raise NormConfigError(f"norm.{key} = {value!r} is not a known option; allowed: "
                                  f"{', '.join([*keys, *FACTORY_KEYS])}")
    out = {k.name: k.check(k.name, options.get(k.name, k.default)) for k in keys.values()}
    out.update({k: check(k, options.get(k)) for k, check in FACTORY_KEYS.items()})
    return out


# -- building ---------------------------------------------------------------------------------
def check_build(name: str, layout: str, options: dict) -> tuple[type[NormLayer], dict]:
    """Everything that can be checked without num_features: name, options, layout."""
    cls = norm_class(name)
    opts = resolve_options(options)
    cls.check_layout(layout)
    return cls, opts


def build_norm(name: str, num_features: int, *, layout: str = "channels_last", **options) -> nn.Module:
    """A norm layer named as in configs/norm/ for num_features channels at a place with this layout."""
    cls, opts = check_build(name, layout, options)
    if not isinstance(num_features, numbers.Integral) or isinstance(num_features, bool) or num_features < 1:
        raise NormConfigError(f"num_features = {num_features!r} is not allowed: must be an int >= 1")
    return cls.from_options(int(num_features), layout, opts)


def build_conditional_norm(name: str, num_features: int, *, gated: bool | None = None, cond_dim: int | None = None,
                           **options) -> nn.Module:
    """A conditional norm (adaln, adaln_zero) for a place that also says whether its residual
    branch is gated (gated=False: DiT's final norm; None: the norm's own default) and the size of
    the conditioning vector (None: num_features)."""
    cls, opts = check_build(name, CHANNELS_LAST, options)
    if not cls.conditional:
        raise NormConfigError(f"norm.name = {name!r} takes no conditioning vector; allowed here: "
                              f"{', '.join(conditional_norm_names())}")
    return cls.from_options(int(num_features), CHANNELS_LAST, opts, gated=gated, cond_dim=cond_dim)
