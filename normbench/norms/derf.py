"""Derf (arXiv 2512.10938): Derf(x) = weight * erf(alpha * x + s) + bias.

DyT's successor among the point-wise replacements of LayerNorm: erf in place of tanh, and a
learnable scalar shift s inside it. alpha and s are ONE scalar each (shape (1,), like DyT's
alpha), weight/bias are per channel; alpha starts at alpha0 (norm.alpha0, 0.5 as DyT's), s at
s0 (norm.s0, 0). norm.learnable_alpha = false freezes alpha (a buffer, as in DyT); s stays
learnable. It runs as the eager formula in torch ops (norm.squash and norm.impl are DyT's and
do not apply) and keeps x's dtype: under bf16 autocast a bf16 activation stays bf16.
"""

import torch
from torch import nn

from .base import CHANNELS_LAST, NormLayer
from .dyt import affine_shapes, apply_affine, register_scalar_and_affine
from .options import check_bool, check_finite, check_positive, factory_kwargs


def derf_eager(x: torch.Tensor, alpha: torch.Tensor, shift: torch.Tensor, weight: torch.Tensor | None,
               bias: torch.Tensor | None, shape: tuple[int, ...]) -> torch.Tensor:
    """weight * erf(alpha * x + shift) + bias in torch ops, in x's dtype; shape: the view of weight/bias."""
    dt = x.dtype  # fp32 alpha and shift would otherwise promote a bf16 x to fp32
    return apply_affine(torch.erf(torch.addcmul(shift.to(dt), alpha.to(dt), x)), weight, bias, shape)


class Derf(NormLayer, nn.Module):
    norm_name = "derf"

    def __init__(
        self,
        num_features: int,
        alpha0: float = 0.5,
        s0: float = 0.0,
        learnable_alpha: bool = True,
        affine: bool = True,
        bias: bool = True,
        layout: str = CHANNELS_LAST,
        device=None,
        dtype=None,
    ) -> None:
        layout = self.check_layout(layout)
        super().__init__()
        self.num_features = num_features
        self.alpha0 = check_positive("alpha0", alpha0)
        self.s0 = check_finite("s0", s0)
        self.learnable_alpha = check_bool("learnable_alpha", learnable_alpha)
        self.layout = layout
        self._shapes = affine_shapes(num_features, layout)
        fk = {"device": device, "dtype": dtype}
        register_scalar_and_affine(self, num_features, learnable_alpha, affine, bias, fk)
        self.shift = nn.Parameter(torch.empty(1, **fk))
        self.reset_parameters()

    @classmethod
    def from_options(cls, num_features: int, layout: str, opts: dict) -> "Derf":
        return cls(
            num_features,
            alpha0=opts["alpha0"],
            s0=opts["s0"],
            learnable_alpha=opts["learnable_alpha"],
            affine=opts["affine"],
            bias=opts["bias"],
            layout=layout,
            **factory_kwargs(opts),
        )

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
