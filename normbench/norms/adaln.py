"""Adaptive norms for conditional generation: adaLN and adaLN-Zero (DiT), with a LayerNorm or a DyT core.

A Diffusion Transformer conditions every block through its norms: the scale and shift that a
LayerNorm would learn as constants come, per sample, from a conditioning vector c (timestep
and class embedding) through a linear layer. They are normbench norms (registry names
`adaln` and `adaln_zero`), so a study can swap what sits under the modulation:

    n(x) = LayerNorm(x), no affine            norm.core=layernorm (DiT), eps: norm.eps or 1e-6
    n(x) = tanh(alpha * x), alpha one scalar   norm.core=dyt (the DyT paper's DiT): norm.alpha0,
                                               norm.learnable_alpha
    shift, scale = Linear(SiLU(c)).chunk(2)
    forward(x, c) -> y = n(x) * (1 + scale) + shift
    gate(c)       -> g = Linear_g(SiLU(c))     adaln_zero only; None for adaln

A block uses them as  x = x + g * f(norm(x, c))  (adaln_zero)  or  x = x + f(norm(x, c))  (adaln).
The final norm of a DiT has no residual branch, so it is built without a gate
(build_conditional_norm(..., gated=False)).

norm.zero_init=true sets the modulation (and gate) linears to zero: at init y = n(x) and g = 0,
so every adaLN-Zero block is the identity (DiT's adaLN-Zero). false: xavier-uniform weights
and zero biases, DiT's init of its other linear layers; the DyT paper removes the zero-init
for DyT. configs/norm/adaln.yaml sets it false, adaln_zero.yaml true.

Shapes: x is (B, ..., D) channels-last (tokens), c is (B, cond_dim); cond_dim defaults to D
(DiT's c has the model's width). forward returns one tensor and takes x first, so the probes'
forward hooks see the input and output as for any other norm (and alpha for the DyT core).
norm.affine, norm.bias and norm.squash do not apply: the modulation is the affine, the core is tanh.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import CHANNELS_LAST, NormLayer, register_norm
from .options import boolean, choice, option, positive

CORES = ("layernorm", "dyt")


@register_norm
class AdaLN(NormLayer, nn.Module):
    norm_name = "adaln"
    layouts = (CHANNELS_LAST,)  # DiT's norm places see (B, N, D) tokens
    conditional = True  # forward(x, c): fits only models that pass a conditioning vector (model=dit)
    gated = False  # the class default; adaln_zero's is True

    @dataclass
    class Options:
        core: str = option("layernorm", choice(*CORES), "what sits under the modulation: layernorm (DiT) | dyt")
        zero_init: bool = option(False, boolean, "true: adaLN-Zero's init, the modulation linears at zero")
        alpha0: float = option(0.5, positive, "initial alpha of the dyt core (> 0)")
        learnable_alpha: bool = option(True, boolean, "false freezes the dyt core's alpha at alpha0")
        eps: float = option(1e-6, positive, "added to the variance of the layernorm core")

    def __init__(self, num_features: int, layout: str = CHANNELS_LAST, *, cond_dim: int | None = None,
                 gated: bool | None = None, device=None, dtype=None, **options) -> None:
        layout = self.check_layout(layout)
        o = self.resolve(options)
        super().__init__()
        self.layout = layout
        self.num_features = num_features
        self.cond_dim = num_features if cond_dim is None else cond_dim
        self.core, self.zero_init, self.eps = o.core, o.zero_init, o.eps
        self.alpha0, self.learnable_alpha = o.alpha0, o.learnable_alpha
        self.gated = type(self).gated if gated is None else boolean("gated", gated)
        fk = {"device": device, "dtype": dtype}
        if self.core == "dyt":
            alpha = torch.empty(1, **fk)
            if self.learnable_alpha:
                self.alpha = nn.Parameter(alpha)
            else:  # frozen: kept in state_dict, never trained
                self.register_buffer("alpha", alpha)
        else:
            self.register_parameter("alpha", None)
        self.modulation = nn.Linear(self.cond_dim, 2 * num_features, **fk)  # -> shift, scale
        self.gate_proj = nn.Linear(self.cond_dim, num_features, **fk) if self.gated else None
        self.reset_parameters()

    @property
    def squash_name(self) -> str | None:
        return "tanh" if self.core == "dyt" else None

    def pre_affine(self, rows: torch.Tensor) -> torch.Tensor:
        # before the per-sample modulation (the conditional norms' affine): the core alone
        return self.normalize(rows)

    def reset_parameters(self) -> None:
        if self.alpha is not None:
            with torch.no_grad():
                self.alpha.fill_(self.alpha0)
        for linear in (self.modulation, self.gate_proj):
            if linear is None:
                continue
            if self.zero_init:
                nn.init.zeros_(linear.weight)
            else:
                nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """n(x): the core before the modulation."""
        if self.core == "dyt":
            return torch.tanh(self.alpha.to(x.dtype) * x)
        return F.layer_norm(x, (self.num_features,), None, None, self.eps)

    def _per_sample(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, 1, ..., 1, D), to broadcast over x's token dims."""
        return v.view(v.shape[0], *([1] * (x.ndim - 2)), v.shape[-1])

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.modulation(F.silu(c)).chunk(2, dim=-1)
        return self.normalize(x) * (1 + self._per_sample(scale, x)) + self._per_sample(shift, x)

    def gate(self, c: torch.Tensor, ndim: int = 3) -> torch.Tensor | None:
        """g of shape (B, 1, ..., D) for an input of `ndim` dims, or None when this norm has no gate."""
        if self.gate_proj is None:
            return None
        g = self.gate_proj(F.silu(c))
        return g.view(g.shape[0], *([1] * (ndim - 2)), g.shape[-1])

    def extra_repr(self) -> str:
        s = f"{self.num_features}, cond_dim={self.cond_dim}, core={self.core}, zero_init={self.zero_init}, " \
            f"gated={self.gated}"
        if self.core == "dyt":
            s += f", alpha0={self.alpha0}, learnable_alpha={self.learnable_alpha}"
        return s


@register_norm
class AdaLNZero(AdaLN):
    """adaLN plus a gate on the residual branch (DiT's adaLN-Zero when norm.zero_init=true)."""

    norm_name = "adaln_zero"
    gated = True
