"""What build_model needs to know about one model family, in one record.

Why: vit, convnext, resnet and vgg differ only in their defaults, their checks, how they
are built (timm, or vgg.py's own VGG) and which layouts their norm places see; build.py
does the rest once (config checks, norm fit, either route, the no-stock-norm-left guarantee).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

# replace: build the stock timm model, then swap its norms (the official DyT code's way).
# norm_layer: hand timm a norm factory so it builds the configured norm itself.
NORM_ROUTES = ("replace", "norm_layer")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    defaults: Mapping[str, Any]
    # build(cfg, num_classes=, in_chans=, img_size=, norm_layer=None) -> nn.Module;
    # norm_layer=None builds the stock model with timm's own norms.
    build: Callable[..., nn.Module]
    # check(cfg, img_size) raises ModelConfigError for a bad value; cfg has every key.
    check: Callable[[Mapping[str, Any], int], None]
    # Layouts the model's norm places see, per route (all must be supported by the norm).
    layouts: Mapping[str, tuple[str, ...]]
    # Stock norm class -> replacement layout, for the replace route.
    replace_targets: Mapping[type[nn.Module], str]
    # Layout of the factory handed to timm on the norm_layer route.
    norm_layer_layout: str
    # Norms whose layouts fit but that break at some norm place: norm name -> why.
    misfits: Mapping[str, str] = field(default_factory=dict)
