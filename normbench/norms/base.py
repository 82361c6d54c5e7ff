"""What every norm layer shares: the NormLayer base, its registration and the two layouts.

A norm is one file: a class that subclasses NormLayer, declares its options as a dataclass
(`Options`, fields made by options.option) and registers itself with `@register_norm`; its
preset is configs/norm/<name>.yaml. Everything else (build_norm, the Hydra `norm` schema,
the option checks, the probes) reads the class:
- `Options`: keys, defaults, checks; `__init__` takes them as keyword arguments;
- `layouts`, `conditional`: where it fits;
- `pre_affine(rows)`: its output before the affine, for the S-curve probe (None: it depends
  on more than the row, e.g. batch statistics);
- `squash_name`: the squash it applies to alpha * x, for the saturation probe (None: none).

Probes, normalization-free transforms and DDP's SyncBatchNorm conversion find norm layers by
type after they were injected into a timm model, so every module that build_norm returns
carries this marker plus its registry name and layout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from normbench.errors import NormConfigError

from .options import CHECK, FACTORY_KEYS

CHANNELS_LAST = "channels_last"  # features on the last dim: (B, T, C) or (B, H, W, C)
CHANNELS_FIRST = "channels_first"  # features on dim 1: (B, C, *spatial)
LAYOUTS = (CHANNELS_LAST, CHANNELS_FIRST)


def check_layout(layout: object) -> str:
    """Return layout if it is one of LAYOUTS, else raise NormConfigError."""
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise NormConfigError(f"layout = {layout!r} is unknown; allowed: {', '.join(LAYOUTS)}")
    return layout


@dataclasses.dataclass
class NoOptions:
    """A norm without options (identity)."""


class NormLayer:
    """Base mixin: ``class LayerNorm(NormLayer, nn.LayerNorm)``.

    Subclasses set ``norm_name`` (the registry name), ``Options`` and, when they cannot work
    in both layouts, ``layouts``; instances get ``layout``.
    """

    norm_name: str = ""
    Options: ClassVar[type] = NoOptions
    squash_name: str | None = None  # the squash of alpha * x (saturation probe); None: no squash
    layouts: tuple[str, ...] = LAYOUTS
    layout: str = CHANNELS_LAST
    # True for norms whose forward takes a conditioning vector, forward(x, c) (adaln, adaln_zero):
    # they fit only models that pass one (model=dit), and those models need one of them
    conditional: bool = False

    @classmethod
    def check_layout(cls, layout: object) -> str:
        """Validate layout for this norm; call before building parameters."""
        check_layout(layout)
        if layout not in cls.layouts:
            why = " (feature maps with spatial dims)" if cls.layouts == (CHANNELS_FIRST,) else ""
            raise NormConfigError(
                f"norm={cls.norm_name} needs layout {' or '.join(cls.layouts)}{why}; "
                f"this place has {layout}"
            )
        return layout

    @classmethod
    def resolve(cls, given: Mapping[str, Any]) -> Any:
        """An Options instance from keyword arguments: each checked, the rest the defaults.
        An unknown key is an error naming the norm's keys."""
        fields = {f.name: f for f in dataclasses.fields(cls.Options)}
        for key, value in given.items():
            if key not in fields:
                raise NormConfigError(f"norm.{key} = {value!r} is not an option of norm={cls.norm_name}; "
                                      f"allowed: {', '.join(fields) or 'none'}")
        return cls.Options(**{k: f.metadata[CHECK](k, given[k]) for k, f in fields.items() if k in given})

    @classmethod
    def from_options(cls, num_features: int, layout: str, opts: Mapping[str, Any], **place) -> nn.Module:
        """Build from the union's checked options (registry.resolve_options): the norm takes its
        own fields (a None where its own default is not None means 'the norm's own'), the factory
        kwargs and what the place says (`place`: e.g. a conditional norm's gate and cond_dim)."""
        own = {}
        for f in dataclasses.fields(cls.Options):
            value = opts.get(f.name, f.default)
            if value is not None or f.default is None:
                own[f.name] = value
        factory = {k: opts[k] for k in FACTORY_KEYS if opts.get(k) is not None}
        return cls(num_features, layout=layout, **factory, **place, **own)

    def pre_affine(self, rows: torch.Tensor) -> torch.Tensor | None:
        """(rows, C) fp32 input -> the norm's output before its affine (the S-curve's y); None
        for a norm whose output depends on more than the row (batch/group statistics)."""
        return None


def is_norm_layer(module: object) -> bool:
    """True for every module build_norm returns (identity included)."""
    return isinstance(module, NormLayer)


# -- the registry: a norm's config name -> its class -------------------------------------------
_NORMS: dict[str, type[NormLayer]] = {}


def register_norm(cls: type[NormLayer]) -> type[NormLayer]:
    """Class decorator: `norm=<cls.norm_name>` builds this class. Its Options must be a dataclass
    whose every field was made by options.option (a check beside each default)."""
    if not (isinstance(cls, type) and issubclass(cls, NormLayer) and cls.norm_name):
        raise TypeError(f"@register_norm needs a NormLayer subclass with a norm_name, got {cls!r}")
    if not dataclasses.is_dataclass(cls.Options):
        raise TypeError(f"{cls.__name__}.Options must be a dataclass")
    for f in dataclasses.fields(cls.Options):
        if CHECK not in f.metadata:
            raise TypeError(f"{cls.__name__}.Options.{f.name} has no check: make it with options.option(...)")
    old = _NORMS.get(cls.norm_name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise TypeError(f"norm name {cls.norm_name!r} is taken by {old.__module__}.{old.__qualname__}")
    _NORMS[cls.norm_name] = cls
    return cls


def registered_norms() -> dict[str, type[NormLayer]]:
    """The norms registered so far (registry.py imports the built-in ones and the plugins first)."""
    return dict(_NORMS)
