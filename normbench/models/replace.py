"""Swap the stock norm layers of a built model for a configured normbench norm.

Why: this is how the official DyT code works (build the stock timm model, then replace
every LayerNorm), so every norm place of the stock architecture gets the new norm, the
final norm after pooling included, and nothing about the architecture changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from timm.layers import LayerNorm2d

from normbench.norms import split_norm_config

# Stock class -> layout its replacement must use. The most specific class in a module's
# MRO wins, so LayerNorm2d (a subclass of nn.LayerNorm over NCHW maps) is channels_first
# while timm's LayerNorm and torch's nn.LayerNorm (over the last dim) are channels_last.
LAYERNORM_TARGETS: dict[type[nn.Module], str] = {
    LayerNorm2d: "channels_first",
    nn.LayerNorm: "channels_last",
}
BATCHNORM_TARGETS: dict[type[nn.Module], str] = {nn.BatchNorm2d: "channels_first"}


def target_layout(module: nn.Module, targets: Mapping[type[nn.Module], str]) -> str | None:
    """The replacement layout for `module`, or None when it is not a target."""
    for cls in type(module).__mro__:
        if cls in targets:
            return targets[cls]
    return None


def _num_features(module: nn.Module) -> int:
    if isinstance(module, nn.LayerNorm):
        if len(module.normalized_shape) != 1:
            raise ValueError(f"cannot replace a LayerNorm over {tuple(module.normalized_shape)}: not one channel dim")
        return int(module.normalized_shape[0])
    if hasattr(module, "num_features"):
        return int(module.num_features)
    raise ValueError(f"cannot tell the number of channels of {type(module).__name__}")


def _device_dtype(module: nn.Module) -> dict[str, Any]:
    tensor = next(iter([*module.parameters(), *module.buffers()]), None)
    if tensor is None:
        return {}
    # Running stats of BatchNorm include an int64 counter: take dtype from a float tensor.
    floats = [t for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()]
    return {"device": tensor.device, **({"dtype": floats[0].dtype} if floats else {})}


@torch.no_grad()
def _copy_affine(old: nn.Module, new: nn.Module) -> None:
    """Keep the stock init of weight/bias (e.g. ResNet's zero-init of each block's last BN)."""
    for attr in ("weight", "bias"):
        src, dst = getattr(old, attr, None), getattr(new, attr, None)
        if isinstance(src, torch.Tensor) and isinstance(dst, torch.Tensor) and src.shape == dst.shape:
            dst.copy_(src)


def replace_norms(
    model: nn.Module,
    norm_cfg: Mapping[str, Any],
    targets: Mapping[type[nn.Module], str] = LAYERNORM_TARGETS,
) -> tuple[nn.Module, int]:
    """Replace, in place, every module of a `targets` class with the norm of `norm_cfg`.

    norm_cfg: the whole `norm` config group (with `name`). targets: stock class -> layout
    of its replacement. Returns (model, number replaced). Affine weight/bias are copied
    from the old module when both have them with equal shapes; train/eval mode is kept.
    """
    from normbench.norms import build_norm, is_norm_layer

    name, options = split_norm_config(norm_cfg)
    # Collect first, then swap: mutating while iterating named_modules is unsafe.
    # normbench norms are skipped: its LayerNorm subclasses nn.LayerNorm, and
    # replacing twice must not touch what a first replacement put in.
    places = [
        (qual, m)
        for qual, m in model.named_modules()
        if qual and not is_norm_layer(m) and target_layout(m, targets)
    ]
    for qual, old in places:
        parent_name, _, child = qual.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        # eps: the config's, else the stock layer's (timm's 1e-6 in ViT/ConvNeXt), as timm's
        # call sites do on the norm_layer route; so layernorm -> layernorm changes nothing.
        eps = options.get("eps")
        if eps is None and isinstance(getattr(old, "eps", None), float):
            eps = old.eps
        new = build_norm(
            name,
            _num_features(old),
            layout=target_layout(old, targets),
            **{**_device_dtype(old), **options, "eps": eps},
        )
        _copy_affine(old, new)
        new.train(old.training)
        setattr(parent, child, new)  # works for nn.Sequential children ("0") too
    return model, len(places)
