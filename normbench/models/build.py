"""build_model: one entry point from the `model` and `norm` config groups to a model.

Why one place: the norm-fit check, the two norm routes and the guarantee that no stock
norm is left are the same for every model family, so they live here once; the model
files (vit.py, convnext.py, resnet.py, vgg.py) only say how each family is built.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from torch import nn

from normbench.errors import ModelConfigError
from normbench.norms import split_norm_config

from . import convnext, resnet, vgg, vit
from .config import to_plain_dict, with_defaults
from .fit import check_norm_fits
from .inspect import assert_all_norms_replaced
from .replace import replace_norms
from .spec import ModelSpec

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (convnext.SPEC, resnet.SPEC, vgg.SPEC, vit.SPEC)}
MODEL_NAMES: tuple[str, ...] = tuple(sorted(MODELS))


def resolve_model_config(model_cfg: Mapping[str, Any], img_size: int) -> tuple[ModelSpec, dict[str, Any]]:
    """(spec, complete checked model config): defaults filled in, unknown keys rejected."""
    cfg = to_plain_dict(model_cfg, "model")
    name = cfg.get("name")
    if name not in MODELS:
        raise ModelConfigError(f"model.name = {name!r} is unknown; allowed: {', '.join(MODEL_NAMES)}")
    spec = MODELS[name]
    cfg = with_defaults(cfg, spec.defaults, name)
    spec.check(cfg, img_size)
    return spec, cfg


def build_stock_model(model_cfg: Mapping[str, Any], *, num_classes: int, in_chans: int, img_size: int) -> nn.Module:
    """The model with its stock norms (timm's LayerNorm / BatchNorm), before any replacement:
    the reference for counting norm places and for comparisons."""
    spec, cfg = resolve_model_config(model_cfg, img_size)
    return spec.build(cfg, num_classes=num_classes, in_chans=in_chans, img_size=img_size)


def build_model(
    model_cfg: Mapping[str, Any],
    norm_cfg: Mapping[str, Any],
    *,
    num_classes: int,
    in_chans: int,
    img_size: int,
) -> nn.Module:
    """Build model `model_cfg.name` with the norm of `norm_cfg` in every norm place.

    Raises ModelConfigError for a bad model config or a norm that does not fit the model
    (before building); the norm library's NormConfigError passes through unchanged.
    """
    from normbench.norms import norm_factory

    spec, cfg = resolve_model_config(model_cfg, img_size)
    norm_name, norm_options = split_norm_config(norm_cfg)
    route = cfg["norm_route"]
    hint = ""
    if route == "replace" and set(spec.layouts["norm_layer"]) != set(spec.layouts["replace"]):
        other = "/".join(spec.layouts["norm_layer"])
        hint = f" (or set model.norm_route=norm_layer, where its norm places are {other})"
    check_norm_fits(norm_name, spec.name, spec.layouts[route], hint=hint, misfits=spec.misfits)
    for layout in spec.layouts[route]:  # bad norm options fail now (NormConfigError), not mid-build
        norm_factory(norm_name, layout=layout, **norm_options)

    sizes = {"num_classes": num_classes, "in_chans": in_chans, "img_size": img_size}
    if route == "replace":
        model = spec.build(cfg, **sizes)
        replace_norms(model, norm_cfg, targets=spec.replace_targets)
    else:
        factory = norm_factory(norm_name, layout=spec.norm_layer_layout, **norm_options)
        # timm's get_norm_layer accepts only classes, functions and partials
        model = spec.build(cfg, **sizes, norm_layer=functools.partial(factory))
    assert_all_norms_replaced(model, spec.name)
    return model
