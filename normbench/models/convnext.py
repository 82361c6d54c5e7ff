"""A small timm ConvNeXt for 28-32 px images.

Why these changes to timm's ConvNeXt: a 2 px patch stem keeps 14x14 maps at 28 px,
stage 0 then works at the stem's resolution and each later stage halves it
(28 px: 14 -> 7 -> 3). timm hard-codes four stages and, for a stride-2 stem, adds a
stride-2 downsample to stage 0 (meant for its overlapping stems); both are undone
after building, so fewer stages and a full-resolution stage 0 are possible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from timm.models.convnext import ConvNeXt
from torch import nn

from normbench.config.schema import defaults_of
from normbench.errors import ModelConfigError
from normbench.normfree.skipinit import skipinit_convnext

from .config import require_choice, require_positive_ints, require_same_length
from .replace import LAYERNORM_TARGETS
from .registry import register_model
from .spec import NORM_ROUTES, Branch, ModelSpec

TIMM_STAGES = 4  # timm's ConvNeXt always builds four stages


@dataclass
class ConvNeXtConfig:
    """`model=convnext`: a small timm ConvNeXt for 28-32 px images."""

    name: str = "convnext"
    depths: list[int] = field(default_factory=lambda: [2, 2, 2])      # blocks per stage (1 to 4 stages)
    dims: list[int] = field(default_factory=lambda: [32, 64, 128])    # channels per stage, one entry per stage
    patch_size: int = 2                    # stem: non-overlapping patch_size x patch_size conv
    kernel_size: int = 7                   # depthwise conv kernel of every block
    ls_init_value: Optional[float] = 1e-6  # layer scale init; null disables layer scale
    drop_path_rate: float = 0.0            # stochastic depth
    norm_route: str = "replace"            # replace: stock timm, then LayerNorm2d -> channels_first, block
                                           # LayerNorm -> channels_last (the official DyT code); norm_layer: timm
                                           # builds the norm, which needs conv_mlp=true, so every norm place is
                                           # channels_first (groupnorm fits only here)


DEFAULTS: dict[str, Any] = defaults_of(ConvNeXtConfig)  # the keys of model=convnext (without name), from the schema


def check(cfg: Mapping[str, Any], img_size: int) -> None:
    require_choice(cfg, "norm_route", NORM_ROUTES)
    require_positive_ints(cfg, "depths", "dims", "patch_size", "kernel_size")
    require_same_length(cfg, "depths", "dims", max_len=TIMM_STAGES)
    # each stage after the first halves the stem's map; it must stay at least 1 px
    stem = img_size // cfg["patch_size"]
    if stem < 2 ** (len(cfg["depths"]) - 1):
        raise ModelConfigError(
            f"img_size = {img_size} with model.patch_size = {cfg['patch_size']} leaves {stem} px after the stem, "
            f"too small for {len(cfg['depths'])} stages that halve it; use a smaller patch_size or fewer stages"
        )


def build(cfg: Mapping[str, Any], *, num_classes: int, in_chans: int, img_size: int, norm_layer=None) -> nn.Module:
    n = len(cfg["depths"])
    # Pad to timm's four stages with empty stages of the last width, dropped below;
    # the head is then already built for dims[-1].
    depths = list(cfg["depths"]) + [0] * (TIMM_STAGES - n)
    dims = list(cfg["dims"]) + [cfg["dims"][-1]] * (TIMM_STAGES - n)
    model = ConvNeXt(
        in_chans=in_chans,
        num_classes=num_classes,
        depths=tuple(depths),
        dims=tuple(dims),
        stem_type="patch",
        patch_size=cfg["patch_size"],
        kernel_sizes=cfg["kernel_size"],
        ls_init_value=cfg["ls_init_value"],
        drop_path_rate=float(cfg["drop_path_rate"]),
        # timm only accepts a custom norm_layer with conv_mlp=True (1x1-conv MLP over NCHW),
        # so on the norm_layer route every norm place is channels_first. The replace route
        # keeps timm's default (Linear MLP over channels_last tokens), as the official code.
        conv_mlp=norm_layer is not None,
        norm_layer=norm_layer,  # None: LayerNorm2d (stem, downsamples, head) + LayerNorm (blocks)
    )
    model.stages = nn.Sequential(*list(model.stages)[:n])
    if cfg["patch_size"] == 2:
        # timm treats a stride-2 stem as half a stem and strides stage 0 too; not wanted here.
        model.stages[0].downsample = nn.Identity()
    reduction = cfg["patch_size"]
    for i, info in enumerate(model.feature_info[:n]):
        reduction *= 2 if i > 0 else 1
        info["reduction"] = reduction
    model.feature_info = model.feature_info[:n]
    return model


def branches(model: nn.Module) -> list[Branch]:
    """Each block's one residual branch (depthwise conv, norm, MLP, gamma): the stream is conv_dw's
    input, the increment drop_path's output (identity in the probe's eval mode)."""
    return [(f"stages.{s}.blocks.{b}.mlp", block.conv_dw, block.drop_path)
            for s, stage in enumerate(model.stages) for b, block in enumerate(stage.blocks)]


SPEC = register_model(ModelSpec(
    name="convnext",
    config=ConvNeXtConfig,
    task="classify",
    build=build,
    check=check,
    # replace: LayerNorm2d places see NCHW maps, block LayerNorms see channels-last tokens
    layouts={"replace": ("channels_last", "channels_first"), "norm_layer": ("channels_first",)},
    replace_targets=LAYERNORM_TARGETS,
    norm_layer_layout="channels_first",
    misfits={
        "instancenorm": "convnext's head norm sees pooled (B, C, 1, 1) maps, where instancenorm's "
        "per-sample, per-channel statistics make every feature 0 and the logits independent of the image",
    },
    grad_checkpointing=True,
    normfree={"skipinit": lambda m, c: skipinit_convnext(m, c["gain_init"])},
    branches=branches,
))
