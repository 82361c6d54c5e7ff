"""A small timm ResNet for 28-32 px images (the CIFAR-style stem).

Why: ImageNet's stem (7x7 stride-2 conv + max-pool) would shrink 28 px to 7 px before
the first block. Here the stem is one 3x3 stride-1 conv and no max-pool, so stages see
28 -> 14 -> 7 -> 4 px. Its norm (bn1) stays a norm place. BatchNorm is the norm that is
replaced: the paper's claim C8 is about DyT in BatchNorm's place in classic ConvNets.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from normbench.config.schema import defaults_of
from normbench.errors import ModelConfigError
from normbench.normfree.fixup import RESNET_STAGES, fixup_resnet
from normbench.normfree.skipinit import skipinit_resnet

from .config import require_choice, require_positive_ints, require_same_length
from .replace import BATCHNORM_TARGETS
from .registry import register_model
from .spec import NORM_ROUTES, Branch, ModelSpec

TIMM_STAGES = 4
BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


@dataclass
class ResNetConfig:
    """`model=resnet`: a small timm ResNet for 28-32 px images."""

    name: str = "resnet"
    block: str = "basic"                   # basic | bottleneck (4x wider outputs)
    layers: list[int] = field(default_factory=lambda: [2, 2, 2, 2])          # blocks per stage
    channels: list[int] = field(default_factory=lambda: [32, 64, 128, 256])  # block width per stage
    stem_width: int = 32                   # channels of the stem conv (even)
    zero_init_last: bool = True            # zero-init the last norm weight of each residual branch
    drop_path_rate: float = 0.0            # stochastic depth
    norm_route: str = "replace"            # replace: stock timm, then swap every BatchNorm2d;
                                           # norm_layer: timm builds the norm


DEFAULTS: dict[str, Any] = defaults_of(ResNetConfig)  # the keys of model=resnet (without name), from the schema


def check(cfg: Mapping[str, Any], img_size: int) -> None:
    require_choice(cfg, "norm_route", NORM_ROUTES)
    require_choice(cfg, "block", BLOCKS)
    require_positive_ints(cfg, "layers", "channels", "stem_width")
    require_same_length(cfg, "layers", "channels")
    if len(cfg["layers"]) != TIMM_STAGES:  # timm's ResNet.forward calls layer1..layer4
        raise ModelConfigError(
            f"model.layers = {cfg['layers']} must have {TIMM_STAGES} entries (timm's ResNet has four stages)"
        )
    if cfg["stem_width"] % 2:
        raise ModelConfigError(f"model.stem_width = {cfg['stem_width']} must be even (see resnet.build)")


DEEP_STEM_NORMS = 2  # timm's deep stem: conv, norm, act, conv, norm, act, conv


def _skip_deep_stem_norms(norm_layer):
    """norm_layer, except that its first calls (the deep stem's norms, thrown away with the
    deep stem) give nn.Identity: they are half as wide and need not fit the norm's options
    (e.g. num_groups=32 on 16 channels)."""
    calls = itertools.count()

    def make(num_features: int, **kwargs: Any) -> nn.Module:
        return nn.Identity() if next(calls) < DEEP_STEM_NORMS else norm_layer(num_features, **kwargs)

    return make


def build(cfg: Mapping[str, Any], *, num_classes: int, in_chans: int, img_size: int, norm_layer=None) -> nn.Module:
    # timm's plain stem always has 64 channels; its 'deep' stem has 2 * stem_width, which is
    # the only way to size bn1 and layer1's input. The deep stem's convs (and their norms)
    # are then swapped for the small-image stem below.
    if norm_layer is not None:
        norm_layer = _skip_deep_stem_norms(norm_layer)
    model = ResNet(
        block=BLOCKS[cfg["block"]],
        layers=tuple(cfg["layers"]),
        channels=tuple(cfg["channels"]),
        in_chans=in_chans,
        num_classes=num_classes,
        stem_type="deep",
        stem_width=cfg["stem_width"] // 2,
        zero_init_last=bool(cfg["zero_init_last"]),
        drop_path_rate=float(cfg["drop_path_rate"]),
        **({"norm_layer": norm_layer} if norm_layer is not None else {}),  # default: BatchNorm2d
    )
    thrown_away = [m for m in model.conv1 if isinstance(m, (nn.Identity, nn.BatchNorm2d))]
    if len(thrown_away) != DEEP_STEM_NORMS:  # guards the call counting above against a timm change
        raise RuntimeError(f"timm's deep ResNet stem changed: {model.conv1}")
    model.conv1 = nn.Conv2d(in_chans, cfg["stem_width"], kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")  # as timm inits convs
    model.maxpool = nn.Identity()
    # stage i now works at 1 / 2**i of the input (timm's feature_info assumed the ImageNet stem)
    model.feature_info[0]["reduction"] = 1
    for i, info in enumerate(model.feature_info[1:]):
        info["reduction"] = 2**i
    return model


def branches(model: nn.Module) -> list[Branch]:
    """Each block's residual branch: the stream is the block's input, the increment what is added to
    the shortcut: drop_path's output where the block has one (timm's with stochastic depth, every
    Fixup block), else SE's, else the last norm place's (after skipinit, the gain sits there too)."""
    out = []
    for stage in RESNET_STAGES:
        for b, block in enumerate(getattr(model, stage)):
            last = getattr(block, "bn3" if hasattr(block, "conv3") else "bn2", None)
            inc = next(m for m in (getattr(block, "drop_path", None), getattr(block, "se", None), last) if m is not None)
            out.append((f"{stage}.{b}", block, inc))
    return out


SPEC = register_model(ModelSpec(
    name="resnet",
    config=ResNetConfig,
    task="classify",
    build=build,
    check=check,
    layouts={"replace": ("channels_first",), "norm_layer": ("channels_first",)},
    replace_targets=BATCHNORM_TARGETS,
    norm_layer_layout="channels_first",
    grad_checkpointing=True,
    normfree={"fixup": lambda m, c: fixup_resnet(m), "skipinit": lambda m, c: skipinit_resnet(m, c["gain_init"])},
    branches=branches,
))
