"""RMSNorm in both layouts: LLaMA's norm, the place DyT takes in the LLM variant.

y = x / sqrt(mean(x^2 over channels) + eps) * weight: no mean subtraction and no
bias (the ``bias`` option does not apply to it).
"""

import torch
import torch.nn.functional as F
from torch import nn

from .base import CHANNELS_FIRST, CHANNELS_LAST, NormLayer
from .options import eps_or, factory_kwargs


class RMSNorm(NormLayer, nn.RMSNorm):
    norm_name = "rmsnorm"

    def __init__(self, num_features: int, eps: float = 1e-6, affine: bool = True,
                 layout: str = CHANNELS_LAST, device=None, dtype=None) -> None:
        layout = self.check_layout(layout)
        super().__init__(num_features, eps=eps, elementwise_affine=affine, device=device, dtype=dtype)
        self.layout = layout
        self._channels_first = layout == CHANNELS_FIRST

    @classmethod
    def from_options(cls, num_features: int, layout: str, opts: dict) -> "RMSNorm":
        return cls(num_features, eps=eps_or(opts, 1e-6), affine=opts["affine"], layout=layout,
                   **factory_kwargs(opts))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._channels_first:
            return F.rms_norm(x.movedim(1, -1), self.normalized_shape, self.weight, self.eps).movedim(-1, 1)
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, layout={self.layout}"
