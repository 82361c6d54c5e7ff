"""A small timm VisionTransformer for 28-32 px images, with the paper's ViT head.

Why this shape: average pooling without a class token puts timm's final norm AFTER
pooling (fc_norm), as in the paper's ViT, and that norm is a norm place like any other.
Defaults are the 2-CPU-core default run of DESIGN.md (patch 7 on 28 px -> 16 tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from normbench.config.schema import defaults_of
from normbench.errors import ModelConfigError
from normbench.normfree.fixup import fixup_vit
from normbench.normfree.skipinit import skipinit_vit

from .config import require_choice, require_positive_ints
from .replace import LAYERNORM_TARGETS
from .registry import register_model
from .spec import NORM_ROUTES, Branch, ModelSpec


@dataclass
class ViTConfig:
    """`model=vit`: a small timm VisionTransformer for 28-32 px images."""

    name: str = "vit"
    patch_size: int = 7            # must divide the image size: 7 for 28 px (16 tokens), 4 or 8 for 32 px
    embed_dim: int = 128
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 2.0
    global_pool: str = "avg"       # avg | max | avgmax put the final norm after pooling; token needs class_token
    class_token: bool = False
    qkv_bias: bool = True
    drop_path_rate: float = 0.0    # stochastic depth, rising linearly to this value over the blocks
    norm_route: str = "replace"    # replace: stock timm, then swap every LayerNorm (the official DyT code);
                                   # norm_layer: timm builds the configured norm itself


DEFAULTS: dict[str, Any] = defaults_of(ViTConfig)  # the keys of model=vit (without name), from the schema
GLOBAL_POOLS = ("avg", "token", "max", "avgmax")


def check(cfg: Mapping[str, Any], img_size: int) -> None:
    require_choice(cfg, "norm_route", NORM_ROUTES)
    require_choice(cfg, "global_pool", GLOBAL_POOLS)
    require_positive_ints(cfg, "patch_size", "embed_dim", "depth", "num_heads")
    if cfg["global_pool"] == "token" and not cfg["class_token"]:
        raise ModelConfigError("model.global_pool = 'token' needs model.class_token = true")
    if cfg["embed_dim"] % cfg["num_heads"]:
        raise ModelConfigError(
            f"model.num_heads = {cfg['num_heads']} must divide model.embed_dim = {cfg['embed_dim']}"
        )
    # timm would silently drop the border pixels that do not fill a whole patch.
    if img_size % cfg["patch_size"]:
        fits = [p for p in range(1, img_size + 1) if img_size % p == 0]
        raise ModelConfigError(
            f"model.patch_size = {cfg['patch_size']} does not divide img_size = {img_size}; "
            f"allowed: {', '.join(map(str, fits))}"
        )


def _contiguous_tokens(module: nn.Module, args, out: torch.Tensor) -> torch.Tensor:
    # timm's PatchEmbed returns x.flatten(2).transpose(1, 2): (B, N, C) over (B, C, N) memory. With
    # no class token (whose torch.cat would copy), every residual add keeps that layout, so every
    # norm and linear copies its input first; one copy here makes the whole stream contiguous
    # (about 8 % of the default ViT's CPU step, results/perf/README.md). Same values, same grads.
    return out.contiguous()


def build(cfg: Mapping[str, Any], *, num_classes: int, in_chans: int, img_size: int, norm_layer=None) -> nn.Module:
    model = VisionTransformer(
        img_size=img_size,
        patch_size=cfg["patch_size"],
        in_chans=in_chans,
        num_classes=num_classes,
        global_pool=cfg["global_pool"],
        embed_dim=cfg["embed_dim"],
        depth=cfg["depth"],
        num_heads=cfg["num_heads"],
        mlp_ratio=float(cfg["mlp_ratio"]),
        qkv_bias=bool(cfg["qkv_bias"]),
        class_token=bool(cfg["class_token"]),
        fc_norm=None,  # None: timm moves the final norm after pooling for avg/max pools
        drop_path_rate=float(cfg["drop_path_rate"]),
        norm_layer=norm_layer,  # None: timm's LayerNorm
    )
    model.patch_embed.register_forward_hook(_contiguous_tokens)
    return model


# norm.alpha0_<position> on the replace route: timm's block norms and the final norm by their names
_POSITIONS = {"norm1": "attn", "norm2": "ffn", "norm": "final", "fc_norm": "final"}


def norm_position(qualified_name: str) -> str | None:
    """attn (a block's norm1, before attention), ffn (norm2, before the MLP), final (fc_norm after
    pooling, or norm before it); None for any other place."""
    return _POSITIONS.get(qualified_name.rsplit(".", 1)[-1])


def branches(model: nn.Module) -> list[Branch]:
    """Each block's attention and MLP branch: the stream is norm1's / norm2's input, the increment
    ls1's / ls2's output (identity, or SkipInit's gain; drop_path is off in the probe's eval mode)."""
    return [(f"blocks.{i}.{kind}", getattr(b, norm), getattr(b, ls)) for i, b in enumerate(model.blocks)
            for kind, norm, ls in (("attn", "norm1", "ls1"), ("mlp", "norm2", "ls2"))]


SPEC = register_model(ModelSpec(
    name="vit",
    config=ViTConfig,
    task="classify",
    build=build,
    check=check,
    # every norm place (block norms, fc_norm after pooling) sees (B, N, C) or (B, C)
    layouts={"replace": ("channels_last",), "norm_layer": ("channels_last",)},
    replace_targets=LAYERNORM_TARGETS,
    norm_layer_layout="channels_last",
    positions=norm_position,
    grad_checkpointing=True,
    normfree={"fixup": lambda m, c: fixup_vit(m), "skipinit": lambda m, c: skipinit_vit(m, c["gain_init"])},
    branches=branches,
))
