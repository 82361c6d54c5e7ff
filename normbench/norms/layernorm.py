"""LayerNorm in both layouts: the baseline that DyT replaces.

channels_first normalises over dim 1 at every position (timm's LayerNorm2d, used
by ConvNeXt), by running torch's layer_norm on a view with channels moved last.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .base import CHANNELS_FIRST, CHANNELS_LAST, NormLayer
from .options import eps_or, factory_kwargs


class LayerNorm(NormLayer, nn.LayerNorm):
    norm_name = "layernorm"

    def __init__(self, num_features: int, eps: float = 1e-6, affine: bool = True, bias: bool = True,
                 layout: str = CHANNELS_LAST, device=None, dtype=None) -> None:
        layout = self.check_layout(layout)
        super().__init__(num_features, eps=eps, elementwise_affine=affine, bias=bias, device=device, dtype=dtype)
        self.layout = layout
        self._channels_first = layout == CHANNELS_FIRST

    @classmethod
    def from_options(cls, num_features: int, layout: str, opts: dict) -> "LayerNorm":
        return cls(num_features, eps=eps_or(opts, 1e-6), affine=opts["affine"], bias=opts["bias"],
                   layout=layout, **factory_kwargs(opts))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._channels_first:
            x = x.movedim(1, -1)
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).movedim(-1, 1)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, layout={self.layout}"
