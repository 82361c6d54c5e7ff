"""Adapters from a config to a norm: for timm's ``norm_layer`` and for a Hydra node.

timm calls ``norm_layer(dim, device=..., dtype=...)`` (sometimes with eps=...)
and accepts only a class, a function or a functools.partial, unbinding a
partial's keywords and rebinding them. So norm_factory returns a partial with
keyword arguments only: it survives that, and pickles (DDP spawn, checkpoints).
"""

import functools
from collections.abc import Mapping

from torch import nn

from normbench.errors import NormConfigError

from .registry import build_norm, check_build, norm_names


def _build_at_call_site(num_features: int, *, norm_name: str, norm_layout: str, norm_options: dict,
                        **call_kwargs) -> nn.Module:
    # the config wins over what the model passes; eps only when the config leaves it None
    options = {**call_kwargs, **norm_options}
    if norm_options.get("eps") is None and call_kwargs.get("eps") is not None:
        options["eps"] = call_kwargs["eps"]
    return build_norm(norm_name, num_features, layout=norm_layout, **options)


def norm_factory(name: str, *, layout: str = "channels_last", **options) -> functools.partial:
    """A callable ``f(num_features, **kw)`` for timm's norm_layer; options are checked now."""
    check_build(name, layout, options)  # fail before any model is built
    return functools.partial(_build_at_call_site, norm_name=name, norm_layout=layout, norm_options=dict(options))


def split_norm_config(cfg: Mapping) -> tuple[str, dict]:
    """(name, build_norm options) from the whole ``norm`` config node (a dict or DictConfig)."""
    if not isinstance(cfg, Mapping):
        raise NormConfigError(f"the norm config must be a mapping with a `name`, got {cfg!r}")
    options = {key: cfg[key] for key in cfg}  # plain dict; a DictConfig resolves interpolations on access
    if options.get("name") is None:  # an unknown name is build_norm's error, with the same allowed list
        raise NormConfigError(f"norm.name is missing; allowed: {', '.join(norm_names())}")
    return options.pop("name"), options


def build_norm_from_config(cfg: Mapping, num_features: int, *, layout: str = "channels_last") -> nn.Module:
    """build_norm from the ``norm`` config node (its ``name`` plus options)."""
    name, options = split_norm_config(cfg)
    return build_norm(name, num_features, layout=layout, **options)
