"""BatchNorm for any rank and both layouts: the norm DyT cannot replace (claim C8).

One class instead of torch's BatchNorm1d/2d/3d, so a registry name maps to one
module; it subclasses _BatchNorm so SyncBatchNorm conversion and code that looks
for BatchNorm by type still find it. channels_last moves the last dim to dim 1.
"""

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from .base import CHANNELS_LAST, NormLayer
from .options import eps_or, factory_kwargs


class BatchNorm(NormLayer, _BatchNorm):
    norm_name = "batchnorm"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 bias: bool = True, layout: str = CHANNELS_LAST, device=None, dtype=None) -> None:
        layout = self.check_layout(layout)
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine, bias=bias,
                         device=device, dtype=dtype)
        self.layout = layout
        self._channels_last = layout == CHANNELS_LAST

    @classmethod
    def from_options(cls, num_features: int, layout: str, opts: dict) -> "BatchNorm":
        return cls(num_features, eps=eps_or(opts, 1e-5), momentum=opts["momentum"], affine=opts["affine"],
                   bias=opts["bias"], layout=layout, **factory_kwargs(opts))

    def _check_input_dim(self, input: torch.Tensor) -> None:
        # (B, C), (B, C, L), (B, C, H, W), ...: statistics over every dim but C
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._channels_last:
            return super().forward(x.movedim(-1, 1)).movedim(1, -1)
        return super().forward(x)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, layout={self.layout}"
