"""Swap the norm layers of a built model for a configured normbench norm.

Why: this is how the official DyT code works (build the stock timm model, then replace
every LayerNorm), so every norm place of the stock architecture gets the new norm, the
final norm after pooling included, and nothing about the architecture changes. The model
builders replace the stock norms of their families (LAYERNORM_TARGETS, BATCHNORM_TARGETS);
normbench.convert replaces those of any model (STOCK_TARGETS: every norm class of torch and
timm, plus the classes its caller names). One home for both: which class gets which layout,
how its number of channels is told, and what is carried over (eps, weight and bias, running
statistics, train/eval mode, device and dtype).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import timm.layers
import torch
from timm.layers import LayerNorm2d
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from normbench.errors import InputError, ModelConfigError
from normbench.norms import split_norm_config
from normbench.norms.options import options_at

CL, CF = "channels_last", "channels_first"

# Stock class -> layout its replacement must use. The most specific class in a module's
# MRO wins, so LayerNorm2d (a subclass of nn.LayerNorm over NCHW maps) is channels_first
# while timm's LayerNorm and torch's nn.LayerNorm (over the last dim) are channels_last.
LAYERNORM_TARGETS: dict[type[nn.Module], str] = {
    LayerNorm2d: CF,
    nn.LayerNorm: CL,
}
BATCHNORM_TARGETS: dict[type[nn.Module], str] = {nn.BatchNorm2d: CF}

# timm's norm classes by name (getattr: a timm without one still imports), where their MRO
# alone would say the wrong layout (the *2d LayerNorms subclass nn.LayerNorm, which is
# channels_last) or say nothing (RmsNorm and SimpleNorm subclass nn.Module only). timm's
# LayerNorm, LayerNormAct, LayerNormFp32, GroupNorm, GroupNormAct, BatchNormAct2d, ... subclass
# a torch norm and take its layout.
_TIMM_LAYOUTS = {
    "LayerNorm2d": CF, "LayerNorm2dFp32": CF, "LayerNormAct2d": CF, "LayerNormAct2dFp32": CF,
    "RmsNorm": CL, "RmsNormFp32": CL, "RmsNorm2d": CF, "RmsNorm2dFp32": CF,
    "SimpleNorm": CL, "SimpleNormFp32": CL, "SimpleNorm2d": CF, "SimpleNorm2dFp32": CF,
}
# Every norm class of torch and timm (normbench.convert's default): a norm over the last dim is
# channels_last; BatchNorm (1d: (N, C) or (N, C, L)), InstanceNorm and GroupNorm are channels_first.
# Not here: timm's EvoNorm and FilterResponseNorm (a norm and an activation in one formula) and
# FrozenBatchNorm2d (frozen on purpose); name them in `classes` to replace them anyway.
STOCK_TARGETS: dict[type[nn.Module], str] = {
    nn.LayerNorm: CL,
    nn.RMSNorm: CL,
    nn.GroupNorm: CF,
    _BatchNorm: CF,  # BatchNorm1d/2d/3d, SyncBatchNorm, timm's BatchNormAct2d
    _InstanceNorm: CF,  # InstanceNorm1d/2d/3d
    **{getattr(timm.layers, name): layout for name, layout in _TIMM_LAYOUTS.items() if hasattr(timm.layers, name)},
}
# timm classes that run a norm, then self.drop, then self.act: replaced by the new norm followed
# by the same drop and activation (nn.Sequential), so the activation is not lost.
NORM_ACT_TYPES: tuple[type[nn.Module], ...] = tuple(
    getattr(timm.layers, name) for name in (
        "BatchNormAct2d", "SyncBatchNormAct", "FrozenBatchNormAct2d", "GroupNormAct", "GroupNorm1Act",
        "LayerNormAct", "LayerNormAct2d", "LayerNormActFp32", "LayerNormAct2dFp32",
        "RmsNormAct", "RmsNormAct2d", "RmsNormActFp32", "RmsNormAct2dFp32",
    ) if hasattr(timm.layers, name)
)
# Where classes keep their number of channels, in the order asked (a 1-D weight comes after
# the named attributes: an affine-free norm has none), and their eps (transformers: variance_epsilon).
_FEATURE_ATTRS = ("num_features", "num_channels")
_LATE_FEATURE_ATTRS = ("hidden_size",)
_EPS_ATTRS = ("eps", "variance_epsilon")
# Options a stock layer has its own value of: when the caller leaves one unset (None), the stock
# layer's value is carried over, so layernorm -> layernorm or batchnorm -> batchnorm changes nothing.
_CARRIED = {"eps": _EPS_ATTRS, "momentum": ("momentum",), "num_groups": ("num_groups",)}


class Replaced(NamedTuple):
    """One replaced norm place: its qualified name, the module that was there, the new norm."""

    name: str
    old: nn.Module
    new: nn.Module


def target_layout(module: nn.Module, targets: Mapping[type[nn.Module], str]) -> str | None:
    """The replacement layout for `module`, or None when it is not a target."""
    for cls in type(module).__mro__:
        if cls in targets:
            return targets[cls]
    return None


def num_features_of(module: nn.Module, where: str = "") -> int:
    """The number of channels a norm layer normalizes: its normalized_shape (one dim), else its
    num_features, num_channels, 1-D weight or hidden_size; else ModelConfigError."""
    at = f"{where} = " if where else ""
    shape = getattr(module, "normalized_shape", None)
    if shape is not None:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if len(shape) != 1:
            raise ModelConfigError(
                f"{at}{type(module).__name__} normalizes over {shape}, not one channel dim; "
                f"allowed: a norm over one dim (normalized_shape of length 1)")
        return int(shape[0])
    for attr in _FEATURE_ATTRS:
        if _is_count(getattr(module, attr, None)):
            return int(getattr(module, attr))
    weight = getattr(module, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.ndim == 1 and weight.numel() > 0:
        return weight.numel()
    for attr in _LATE_FEATURE_ATTRS:
        if _is_count(getattr(module, attr, None)):
            return int(getattr(module, attr))
    raise ModelConfigError(
        f"{at}{type(module).__name__}: cannot tell its number of channels; allowed: a norm with one of "
        f"normalized_shape, {', '.join(_FEATURE_ATTRS)}, a 1-D weight, {', '.join(_LATE_FEATURE_ATTRS)}")


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _device_dtype(module: nn.Module, model: nn.Module) -> dict[str, Any]:
    """The device and float dtype of the module's tensors, else of the model's (a norm without
    parameters or buffers, e.g. LayerNorm(elementwise_affine=False), sits where the model is)."""
    for source in (module, model):
        tensors = [*source.parameters(), *source.buffers()]
        if tensors:
            # Running stats of BatchNorm include an int64 counter: take dtype from a float tensor.
            floats = [t for t in tensors if t.is_floating_point()]
            return {"device": tensors[0].device, **({"dtype": floats[0].dtype} if floats else {})}
    return {}


def _carried(old: nn.Module, options: Mapping[str, Any]) -> dict[str, Any]:
    """eps, momentum and num_groups of the stock layer, where the options leave them unset."""
    out = {}
    for key, attrs in _CARRIED.items():
        if options.get(key) is not None:
            continue
        for attr in attrs:
            value = getattr(old, attr, None)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                out[key] = value
                break
    return out


@torch.no_grad()
def _copy_state(old: nn.Module, new: nn.Module, affine: bool = True) -> None:
    """Keep the stock init of weight/bias (e.g. ResNet's zero-init of each block's last BN),
    or a trained model's values, and BatchNorm's running statistics, where shapes agree."""
    for attr in (("weight", "bias") if affine else ()) + ("running_mean", "running_var", "num_batches_tracked"):
        src, dst = getattr(old, attr, None), getattr(new, attr, None)
        if isinstance(src, torch.Tensor) and isinstance(dst, torch.Tensor) and src.shape == dst.shape:
            dst.copy_(src)
            if isinstance(dst, nn.Parameter):
                dst.requires_grad_(src.requires_grad)


def layernorm_places(places: list[str], patterns: str | None) -> set[str]:
    """The norm places (module names) norm.layernorm_at names (comma-separated fnmatch globs);
    a pattern that matches none is a ModelConfigError listing the places."""
    if patterns is None:
        return set()
    chosen = set()
    for pattern in (p.strip() for p in patterns.split(",") if p.strip()):
        hits = fnmatch.filter(places, pattern)
        if not hits:
            shown = ", ".join(places[:8]) + (f", ... ({len(places)} in all)" if len(places) > 8 else "")
            raise ModelConfigError(f"norm.layernorm_at = {patterns!r}: {pattern!r} names no norm place of this "
                                   f"model; allowed: globs over {shown}")
        chosen.update(hits)
    return chosen


def replace_places(
    model: nn.Module,
    name: str,
    options: Mapping[str, Any],
    targets: Mapping[type[nn.Module], str],
    copy_affine: bool = True,
    positions: Callable[[str], str | None] | None = None,
) -> list[Replaced]:
    """Replace, in place, every module of a `targets` class with build_norm(name, **options).

    Every new norm is built before the model is touched, so an error (a norm that does not fit
    a place, a layer whose channels cannot be told) leaves the model as it was. A module
    registered at two places gets one new norm at both. normbench norms are never targets.
    """
    from normbench.norms import build_norm, is_norm_layer

    # Collect first, then swap: mutating while iterating named_modules is unsafe.
    # normbench norms are skipped: its LayerNorm subclasses nn.LayerNorm, and
    # replacing twice must not touch what a first replacement put in.
    places = [
        (qual, m)
        for qual, m in model.named_modules(remove_duplicate=False)
        if qual and not is_norm_layer(m) and target_layout(m, targets)
    ]
    as_ln = layernorm_places([qual for qual, _ in places], options.get("layernorm_at"))
    built: dict[int, tuple[nn.Module, nn.Module]] = {}  # id(old) -> (new norm, what goes in its place)
    for qual, old in places:
        if id(old) in built:
            continue
        given = {k: v for k, v in options.items() if not (k in ("device", "dtype") and v is None)}
        position = positions(qual) if positions is not None else None
        if position is not None:  # norm.alpha0_<position> (the model's positions: ModelSpec.positions)
            given = options_at(given, position)
        num_features = num_features_of(old, qual)
        try:
            new = build_norm(
                "layernorm" if qual in as_ln else name,
                num_features,
                layout=target_layout(old, targets),
                **{**_device_dtype(old, model), **given, **_carried(old, given)},
            )
        except InputError as err:  # the norm's own message, then the place it does not fit
            raise type(err)(f"{err} (at {qual}, a {type(old).__name__})") from None
        _copy_state(old, new, affine=copy_affine)
        new.train(old.training)
        at_place = nn.Sequential(new, old.drop, old.act) if isinstance(old, NORM_ACT_TYPES) else new
        built[id(old)] = (new, at_place)
    for qual, old in places:
        parent_name, _, child = qual.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, built[id(old)][1])  # works for nn.Sequential children ("0") too
    return [Replaced(qual, old, built[id(old)][0]) for qual, old in places]


def replace_norms(
    model: nn.Module,
    norm_cfg: Mapping[str, Any],
    targets: Mapping[type[nn.Module], str] = LAYERNORM_TARGETS,
    positions: Callable[[str], str | None] | None = None,
) -> tuple[nn.Module, int]:
    """Replace, in place, every module of a `targets` class with the norm of `norm_cfg`.

    norm_cfg: the whole `norm` config group (with `name`). targets: stock class -> layout
    of its replacement. Returns (model, number replaced). Affine weight/bias are copied
    from the old module when both have them with equal shapes; eps is the config's, else
    the stock layer's (timm's 1e-6 in ViT/ConvNeXt), as timm's call sites do on the
    norm_layer route, so layernorm -> layernorm changes nothing; train/eval mode is kept.
    """
    name, options = split_norm_config(norm_cfg)
    return model, len(replace_places(model, name, options, targets, positions=positions))
