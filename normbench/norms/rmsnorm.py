"""RMSNorm in both layouts: LLaMA's norm, the place DyT takes in the LLM variant.

y = x / sqrt(mean(x^2 over channels) + eps) * weight: no mean subtraction and no
bias (the ``bias`` option does not apply to it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import CHANNELS_FIRST, CHANNELS_LAST, NormLayer, register_norm
from .options import boolean, option, positive


@register_norm
class RMSNorm(NormLayer, nn.RMSNorm):
    norm_name = "rmsnorm"

    @dataclass
    class Options:
        eps: float = option(1e-6, positive, "added to mean(x^2)")
        affine: bool = option(True, boolean, "per-channel weight (init ones)")

    def __init__(self, num_features: int, layout: str = CHANNELS_LAST, *, device=None, dtype=None, **options) -> None:
        layout = self.check_layout(layout)
        o = self.resolve(options)
        super().__init__(num_features, eps=o.eps, elementwise_affine=o.affine, device=device, dtype=dtype)
        self.layout = layout
        self._channels_first = layout == CHANNELS_FIRST

    def pre_affine(self, rows: torch.Tensor) -> torch.Tensor:
        return rows / torch.sqrt(rows.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._channels_first:
            return F.rms_norm(x.movedim(1, -1), self.normalized_shape, self.weight, self.eps).movedim(-1, 1)
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, layout={self.layout}"
