"""LayerNorm in both layouts: the baseline that DyT replaces.

channels_first normalises over dim 1 at every position (timm's LayerNorm2d, used
by ConvNeXt), by running torch's layer_norm on a view with channels moved last.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import CHANNELS_FIRST, CHANNELS_LAST, NormLayer, register_norm
from .options import boolean, option, positive


@register_norm
class LayerNorm(NormLayer, nn.LayerNorm):
    norm_name = "layernorm"

    @dataclass
    class Options:
        eps: float = option(1e-6, positive, "added to the variance (timm's ViT and ConvNeXt use 1e-6)")
        affine: bool = option(True, boolean, "per-channel weight (init ones)")
        bias: bool = option(True, boolean, "per-channel bias (init zeros)")

    def __init__(self, num_features: int, layout: str = CHANNELS_LAST, *, device=None, dtype=None, **options) -> None:
        layout = self.check_layout(layout)
        o = self.resolve(options)
        super().__init__(num_features, eps=o.eps, elementwise_affine=o.affine, bias=o.bias, device=device, dtype=dtype)
        self.layout = layout
        self._channels_first = layout == CHANNELS_FIRST

    def pre_affine(self, rows: torch.Tensor) -> torch.Tensor:
        mean = rows.mean(-1, keepdim=True)
        var = rows.var(-1, unbiased=False, keepdim=True)
        return (rows - mean) / torch.sqrt(var + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._channels_first:
            x = x.movedim(1, -1)
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).movedim(-1, 1)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, layout={self.layout}"
