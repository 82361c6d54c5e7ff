"""Dynamic Tanh (Zhu et al., CVPR 2025): DyT(x) = weight * tanh(alpha * x) + bias.

The drop-in replacement of LayerNorm that normbench studies. alpha is ONE
scalar (shape (1,), like the official code), weight/bias are per channel. The
squash and a frozen alpha are the paper's ablations (claims C2, C3).

How it runs is `impl` (norm.impl), the same module and parameters whatever it is:
- eager: the formula in torch ops (any squash, any device);
- fused: one custom op forward and one backward (normbench/norms/fused): one pass
  each way, x the only saved activation; tanh only;
- compiled: the eager formula through torch.compile;
- auto (default): fused where a kernel exists for the input's device and dtype (the C
  kernel on the CPU, Triton on CUDA), the squash is tanh and the input is not tiny;
  eager otherwise, and eager inside a torch.compile'd model, where inductor fuses DyT
  with its neighbours. It never fails where eager works.
Every impl keeps x's dtype: under bf16 autocast a bf16 activation stays bf16 (the fp32
alpha, weight and bias are cast to it in eager; read in fp32 by the fused kernels).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from normbench.errors import NormConfigError

from . import fused
from .fused import cpu_autograd
from .base import CHANNELS_FIRST, CHANNELS_LAST, NormLayer, register_norm
from .options import boolean, choice, option, positive

SQUASHES = ("tanh", "hardtanh", "sigmoid", "identity")
IMPLS = ("auto", "eager", "fused", "compiled")

_MAX_RANK = 16
_F32, _BF16 = torch.float32, torch.bfloat16  # what the C++ node takes (fused/cpu_autograd.py)
# `auto` runs eager below this many elements: there the fused path's fixed Python cost
# (tens of microseconds a call) outweighs the memory traffic it saves. A rough crossover,
# to be re-checked with `python -m normbench.bench layer` (README, Performance).
AUTO_MIN_NUMEL = 4096


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


# module-level functions (not lambdas) so a DyT model pickles and deep-copies
_SQUASH_FNS = {"tanh": torch.tanh, "hardtanh": F.hardtanh, "sigmoid": torch.sigmoid, "identity": _identity}


def dyt_eager(x: torch.Tensor, alpha: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
              squash_fn, shape: tuple[int, ...]) -> torch.Tensor:
    """weight * squash(alpha * x) + bias in torch ops, in x's dtype; shape: the view of weight/bias."""
    dt = x.dtype  # an fp32 alpha would otherwise promote a bf16 x to fp32
    return apply_affine(squash_fn(alpha.to(dt) * x), weight, bias, shape)


def apply_affine(y: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                 shape: tuple[int, ...]) -> torch.Tensor:
    """weight * y + bias in y's dtype (either may be None); shape: the view of weight/bias."""
    dt = y.dtype
    if weight is not None:
        w = weight.to(dt).view(shape)
        if bias is not None:  # one kernel for weight * y + bias
            return torch.addcmul(bias.to(dt).view(shape), w, y)
        return y * w
    if bias is not None:
        return y + bias.to(dt).view(shape)
    return y


def register_scalar_and_affine(module: nn.Module, c: int, learnable_alpha: bool, affine: bool, bias: bool,
                               fk: dict, name: str = "alpha") -> None:
    """The parameters DyT and its family (Derf) share, uninitialised: alpha (one value, under
    `name`; a buffer when frozen, kept in state_dict so a checkpoint records it), per-channel
    weight and bias."""
    alpha = torch.empty(1, **fk)
    if learnable_alpha:
        module.register_parameter(name, nn.Parameter(alpha))
    else:
        module.register_buffer(name, alpha)
    module.register_parameter("weight", nn.Parameter(torch.empty(c, **fk)) if affine else None)
    module.register_parameter("bias", nn.Parameter(torch.empty(c, **fk)) if bias else None)


def affine_shapes(c: int, layout: str) -> tuple[tuple[int, ...], ...]:
    """The view of a (c,) weight/bias for each input rank 0.._MAX_RANK: channels_last broadcasts
    (c,) on the last dim as is; channels_first needs (c, 1, ..., 1) for dim 1."""
    return tuple(
        (c,) + (1,) * (rank - 2) if layout == CHANNELS_FIRST and rank >= 2 else (c,)
        for rank in range(_MAX_RANK + 1)
    )


@functools.lru_cache(maxsize=None)
def compile_unavailable(device_type: str) -> str | None:
    return fused.unavailable_reason(torch.device(device_type))


@register_norm
class DyT(NormLayer, nn.Module):
    norm_name = "dyt"

    @dataclass
    class Options:
        alpha0: float = option(0.5, positive, "initial alpha (> 0); the paper's default")
        squash: str = option("tanh", choice(*SQUASHES), "the function of alpha * x (C2's ablation)")
        learnable_alpha: bool = option(True, boolean, "false freezes alpha at alpha0 (C3's ablation)")
        affine: bool = option(True, boolean, "per-channel weight (init ones)")
        bias: bool = option(True, boolean, "per-channel bias (init zeros); model=llama takes model.norm_bias instead")
        # how it runs (module docstring; normbench/norms/fused); "torch", its first name, still means eager
        impl: str = option("auto", choice(*IMPLS, aliases={"torch": "eager"}), "auto | eager | fused | compiled")
        # how fast alpha can move (issue 26): its own lr, its parametrisation, its start from the data
        alpha_lr_mult: float = option(1.0, positive, "alpha's lr as a multiple of the base lr (its own param group)")
        alpha_param: str = option("linear", choice("linear", "log"),
                                  "linear: alpha is the parameter; log: alpha = alpha0 * exp(s), s learnable from 0, "
                                  "so Adam's steps on alpha are relative")
        alpha0_mode: str = option("fixed", choice("fixed", "data"),
                                  "fixed: alpha starts at alpha0; data: at step 0 alpha = alpha0_c / std(its input on "
                                  "the probe batch), layer by layer in forward order (train/alpha0_data.py)")
        alpha0_c: float = option(1.0, positive, "alpha0_mode=data: the alpha * std(input) each layer starts at")

    def __init__(self, num_features: int, layout: str = CHANNELS_LAST, *, device=None, dtype=None, **options) -> None:
        layout = self.check_layout(layout)
        o = self.resolve(options)
        super().__init__()
        self.num_features = num_features
        self.alpha0, self.squash, self.learnable_alpha, self.impl = o.alpha0, o.squash, o.learnable_alpha, o.impl
        self.alpha_lr_mult, self.alpha_param = o.alpha_lr_mult, o.alpha_param
        self.alpha0_mode, self.alpha0_c = o.alpha0_mode, o.alpha0_c
        if self.impl == "fused" and self.squash != "tanh":
            raise NormConfigError(
                f"norm.impl = 'fused' needs norm.squash = 'tanh', this one has {self.squash!r}; "
                f"allowed with squash={self.squash}: {', '.join(i for i in IMPLS if i != 'fused')}"
            )
        self.layout = layout
        self._squash_fn = _SQUASH_FNS[self.squash]
        self._shapes = affine_shapes(num_features, layout)  # weight/bias view per input rank, computed once
        fk = {"device": device, "dtype": dtype}
        if o.alpha_param == "log":  # alpha = alpha_scale * exp(alpha_log): the optimiser steps alpha_log
            register_scalar_and_affine(self, num_features, o.learnable_alpha, o.affine, o.bias, fk, name="alpha_log")
            self.register_buffer("alpha_scale", torch.empty(1, **fk))
        else:
            register_scalar_and_affine(self, num_features, o.learnable_alpha, o.affine, o.bias, fk)
        self.reset_parameters()
        # may forward() take the CPU fast path (the C++ node)? What does not change per call
        self._rows_cpu = (self.impl in ("auto", "fused") and self.squash == "tanh" and layout == CHANNELS_LAST
                          and o.affine and o.bias)
        self._rows_min = 1 if self.impl == "fused" else AUTO_MIN_NUMEL

    @property
    def alpha(self) -> torch.Tensor:
        """alpha, the scalar of tanh(alpha * x): the parameter itself (linear; a buffer when frozen),
        or alpha0 * exp(s) computed from s = alpha_log (log)."""
        if self.alpha_param == "log":
            return self.alpha_scale * torch.exp(self.alpha_log)
        alpha = self._parameters.get("alpha")
        if alpha is None:
            alpha = self._buffers.get("alpha")
        if alpha is None:  # before it is registered: nn.Module's own lookup then says so
            raise AttributeError("alpha")
        return alpha

    @property
    def alpha_parameter(self) -> torch.Tensor:
        """What the optimiser steps for alpha: alpha itself, or s of alpha0 * exp(s)."""
        return self.alpha_log if self.alpha_param == "log" else self.alpha

    def lr_mults(self) -> dict[torch.Tensor, float]:
        return {self.alpha_parameter: self.alpha_lr_mult} if self.alpha_lr_mult != 1 else {}

    @torch.no_grad()
    def set_alpha0(self, value: float) -> None:
        """Start alpha at `value` (alpha0_mode=data calibrates with it): the parameter, or alpha0 of
        alpha0 * exp(s) with s back at 0."""
        self.alpha0 = float(value)
        if self.alpha_param == "log":
            self.alpha_scale.fill_(value)
            self.alpha_log.zero_()
        else:
            self.alpha.fill_(value)

    @property
    def squash_name(self) -> str:
        return self.squash

    def pre_affine(self, rows: torch.Tensor) -> torch.Tensor:
        return self._squash_fn(self.alpha.float() * rows)

    def reset_parameters(self) -> None:
        self.set_alpha0(self.alpha0)
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def resolved_impl(self, x: torch.Tensor) -> str:
        """The impl that runs for x: `auto` resolved (eager, fused or compiled)."""
        if self.impl != "auto":
            return self.impl
        if (self.squash != "tanh" or torch.compiler.is_compiling() or x.numel() < AUTO_MIN_NUMEL
                or not fused.has_kernel(x)):
            return "eager"
        return "fused"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The common case (a contiguous fp32/bf16 CPU input) straight to the C++ autograd node, in as
        # few Python steps as possible: inside a training step each costs microseconds, and the checks
        # of a longer path were DyT's whole forward time over LayerNorm's (results/perf/README.md).
        # The node reads the parameters in fp32 whatever their dtype.
        if (self._rows_cpu and x.is_cpu and (x.dtype is _F32 or x.dtype is _BF16) and x.is_contiguous()
                and x.numel() >= self._rows_min and not torch.compiler.is_compiling()):
            node = cpu_autograd.op()
            if node is not None:  # else the general path below (fused.dyt_fused) runs the same kernels
                p = self._parameters
                alpha = p.get("alpha")  # None when frozen (a buffer) or alpha_param=log
                return node(x, self.alpha if alpha is None else alpha, p["weight"], p["bias"])
        impl = self.resolved_impl(x)
        if impl == "fused":
            return fused.dyt_fused(x, self.alpha, self.weight, self.bias, self.layout == CHANNELS_FIRST)
        args = (x, self.alpha, self.weight, self.bias, self._squash_fn, self._shapes[x.ndim])
        if impl == "compiled":
            why = compile_unavailable(x.device.type)
            if why is not None:
                raise NormConfigError(f"norm.impl = 'compiled' cannot run on {x.device.type} here: {why}; "
                                      f"allowed here: {', '.join(i for i in IMPLS if i != 'compiled')}")
            return fused.compiled(dyt_eager)(*args)
        return dyt_eager(*args)

    def extra_repr(self) -> str:
        s = (
            f"{self.num_features}, alpha0={self.alpha0}, squash={self.squash}, "
            f"layout={self.layout}, learnable_alpha={self.learnable_alpha}"
        )
        if self.impl != "auto":
            s += f", impl={self.impl}"
        if self.alpha_param != "linear" or self.alpha_lr_mult != 1 or self.alpha0_mode != "fixed":
            s += f", alpha_param={self.alpha_param}, alpha_lr_mult={self.alpha_lr_mult}, alpha0_mode={self.alpha0_mode}"
        if self.weight is None or self.bias is None:
            s += f", affine={self.weight is not None}, bias={self.bias is not None}"
        return s
