"""Derf (arXiv 2512.10938): Derf(x) = weight * erf(alpha * x + s) + bias.

DyT's successor among the point-wise replacements of LayerNorm: erf in place of tanh, and a
learnable scalar shift s inside it. alpha and s are ONE scalar each (shape (1,), like DyT's
alpha), weight/bias are per channel; alpha starts at alpha0 (norm.alpha0, 0.5 as DyT's), s at
s0 (norm.s0, 0). norm.learnable_alpha = false freezes alpha (a buffer, as in DyT); s stays
learnable. It runs as the eager formula in torch ops (norm.squash and norm.impl are DyT's and
do not apply) and keeps x's dtype: under bf16 autocast a bf16 activation stays bf16.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import CHANNELS_LAST, NormLayer, register_norm
from .dyt import affine_shapes, apply_affine, register_scalar_and_affine
from .options import boolean, finite, option, positive


def derf_eager(x: torch.Tensor, alpha: torch.Tensor, shift: torch.Tensor, weight: torch.Tensor | None,
               bias: torch.Tensor | None, shape: tuple[int, ...]) -> torch.Tensor:
    """weight * erf(alpha * x + shift) + bias in torch ops, in x's dtype; shape: the view of weight/bias."""
    dt = x.dtype  # fp32 alpha and shift would otherwise promote a bf16 x to fp32
    return apply_affine(torch.erf(torch.addcmul(shift.to(dt), alpha.to(dt), x)), weight, bias, shape)


@register_norm
class Derf(NormLayer, nn.Module):
    norm_name = "derf"
    squash_name = "erf"

    @dataclass
    class Options:
        alpha0: float = option(0.5, positive, "initial alpha (> 0); the paper's default")
        s0: float = option(0.0, finite, "initial shift s of erf(alpha * x + s) (any finite number)")
        learnable_alpha: bool = option(True, boolean, "false freezes alpha at alpha0 (C3's ablation)")
        affine: bool = option(True, boolean, "per-channel weight (init ones)")
        bias: bool = option(True, boolean, "per-channel bias (init zeros); model=llama takes model.norm_bias instead")

    def __init__(self, num_features: int, layout: str = CHANNELS_LAST, *, device=None, dtype=None, **options) -> None:
        layout = self.check_layout(layout)
        o = self.resolve(options)
        super().__init__()
        self.num_features = num_features
        self.alpha0, self.s0, self.learnable_alpha = o.alpha0, o.s0, o.learnable_alpha
        self.layout = layout
        self._shapes = affine_shapes(num_features, layout)
        fk = {"device": device, "dtype": dtype}
        register_scalar_and_affine(self, num_features, o.learnable_alpha, o.affine, o.bias, fk)
        self.shift = nn.Parameter(torch.empty(1, **fk))
        self.reset_parameters()

    def pre_affine(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.erf(self.alpha.float() * rows + self.shift.float())

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.alpha.fill_(self.alpha0)
            self.shift.fill_(self.s0)
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return derf_eager(x, self.alpha, self.shift, self.weight, self.bias, self._shapes[x.ndim])

    def extra_repr(self) -> str:
        s = (f"{self.num_features}, alpha0={self.alpha0}, s0={self.s0}, layout={self.layout}, "
             f"learnable_alpha={self.learnable_alpha}")
        if self.weight is None or self.bias is None:
            s += f", affine={self.weight is not None}, bias={self.bias is not None}"
        return s
