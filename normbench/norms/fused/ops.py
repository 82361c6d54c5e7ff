"""The fused DyT: one forward and one backward function, reachable two ways.

Eagerly, through an autograd.Function (the cheapest Python path: the kernels are
called through ctypes). Under torch.compile, through the custom ops normbench::dyt_fwd
and normbench::dyt_bwd with their autograd formula, so a model holding a fused DyT
still compiles in one graph: the ops are opaque nodes with fake (meta) shapes, where
the ctypes call would be a graph break. What autograd saves: x alone (plus alpha and weight, which are
parameters, not activations). Why x and not t = tanh(alpha x): dalpha needs x itself,
and x = atanh(t) / alpha loses every digit where tanh saturates (t rounds to 1 in fp32
from |alpha x| > 9); recomputing t from x costs a few multiply-adds per element in a
loop whose time is memory traffic anyway.

Layouts: every input is seen as (N, C, S). Channels last is (rows, C, 1); channels
first is (N, C, H*W...), unless its memory is channels_last (torch.channels_last
format, as ConvNeXt may produce), where the permuted view is again (rows, C, 1) and
needs no copy. Anything else is made contiguous first. Outputs and dx get x's strides.

Backends, by device and dtype: cpu.py (C kernel), triton_gpu.py (CUDA), else
reference.py (torch ops). Output in x's dtype; the parameters are read in fp32 (fp64 for
fp64 inputs) and the parameter gradients are reduced in that precision.
"""

from __future__ import annotations

import functools
from typing import Optional

import torch
from torch import Tensor

from . import cpu, cpu_autograd, reference


@functools.cache
def _triton_gpu():
    from . import triton_gpu  # imports triton: only where a CUDA tensor arrives

    return triton_gpu


def backend(x: Tensor):
    """The module that computes the fused DyT for tensors like x."""
    if x.device.type == "cpu" and cpu.supports(x):
        return cpu
    if x.device.type == "cuda" and _triton_gpu().supports(x):
        return _triton_gpu()
    return reference


def has_kernel(x: Tensor) -> bool:
    """True where a fused kernel (not the reference ops) runs for x: what `auto` needs."""
    return backend(x) is not reference


def _as3(t: Tensor, channels_first: bool) -> Optional[Tensor]:
    """An (N, C, S) view of t without a copy, where its memory allows one."""
    if not channels_first or t.ndim <= 2:  # channel on the last dim
        return t.view(-1, t.shape[-1], 1) if t.is_contiguous() else None
    if t.is_contiguous():
        return t.view(t.shape[0], t.shape[1], -1)
    tp = t.movedim(1, -1)  # torch.channels_last memory: a row of C channels per position
    return tp.view(-1, tp.shape[-1], 1) if tp.is_contiguous() else None


def _out_like(x: Tensor, channels_first: bool) -> Tensor:
    """The output (or dx) for x: x's strides where _as3 takes x as it is, else contiguous."""
    if x.is_contiguous() or (channels_first and x.movedim(1, -1).is_contiguous()):
        return torch.empty_like(x)
    return torch.empty(x.shape, dtype=x.dtype, device=x.device)


def _channels(x: Tensor, channels_first: bool) -> int:
    """C: dim 1 of a channels-first map, else the last dim (a (B, N, C) token tensor too)."""
    return x.shape[1] if channels_first and x.ndim > 2 else x.shape[-1]


def _params(x: Tensor, alpha: Tensor, weight: Optional[Tensor], bias: Optional[Tensor], impl, channels_first: bool):
    dt = impl.compute_dtype(x.dtype)
    c = _channels(x, channels_first)
    as_is = getattr(impl, "ANY_PARAM_DTYPE", False)  # a backend that reads any float dtype: no copy
    a = _param(alpha, dt, as_is)
    w = _param(weight, dt, as_is) if weight is not None else _constant(c, 1.0, dt, x.device)
    b = _param(bias, dt, as_is) if bias is not None else _constant(c, 0.0, dt, x.device)
    return a, w, b


def _param(p: Tensor, dtype: torch.dtype, as_is: bool) -> Tensor:
    return (p if as_is and p.is_floating_point() else _cast(p, dtype)).contiguous()


@functools.lru_cache(maxsize=64)
def _constant(c: int, value: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The weight (ones) or bias (zeros) of a DyT without one, made once per shape and device
    instead of once per call (an allocation and a fill kernel each). The kernels only read it."""
    return torch.full((c,), value, dtype=dtype, device=device)


def _forward(x: Tensor, alpha: Tensor, weight: Optional[Tensor], bias: Optional[Tensor],
             channels_first: bool) -> Tensor:
    """weight * tanh(alpha * x) + bias, channels on dim 1 (channels_first) or on the last dim."""
    cf = channels_first and x.ndim > 2
    y = _out_like(x, cf)
    if x.numel() == 0:
        return y
    impl = backend(x)
    a, w, b = _params(x, alpha, weight, bias, impl, cf)
    x3 = _as3(x, cf)
    if x3 is None:
        x3 = _as3(x.contiguous(), cf)
    impl.forward(x3, a, w, b, _as3(y, cf))
    return y


@torch.library.custom_op("normbench::dyt_fwd", mutates_args=())
def dyt_fwd(x: Tensor, alpha: Tensor, weight: Optional[Tensor], bias: Optional[Tensor],
            channels_first: bool) -> Tensor:
    return _forward(x, alpha, weight, bias, channels_first)


@dyt_fwd.register_fake
def _(x, alpha, weight, bias, channels_first):
    return _out_like(x, channels_first and x.ndim > 2)


def _backward_impl(grad: Tensor, x: Tensor, alpha: Tensor, weight: Optional[Tensor],
                   channels_first: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(dx, dalpha, dweight, dbias); the last three in fp32 (fp64 for fp64 x)."""
    cf = channels_first and x.ndim > 2
    impl = backend(x)
    dt = impl.compute_dtype(x.dtype)
    dx = _out_like(x, cf)
    c = _channels(x, cf)
    if x.numel() == 0:
        zeros = torch.zeros(c, dtype=dt, device=x.device)
        return dx, torch.zeros(1, dtype=dt, device=x.device), zeros, zeros.clone()
    a, w, _ = _params(x, alpha, weight, None, impl, cf)
    x3 = _as3(x, cf)
    if x3 is None:
        x = x.contiguous()
        x3 = _as3(x, cf)
    if grad.dtype != x.dtype or grad.stride() != x.stride():  # g in x's memory order
        grad = torch.empty_like(x).copy_(grad)
    da, dw, db = impl.backward(_as3(grad, cf), x3, a, w, _as3(dx, cf))
    return dx, da, dw, db


@torch.library.custom_op("normbench::dyt_bwd", mutates_args=())
def dyt_bwd(grad: Tensor, x: Tensor, alpha: Tensor, weight: Optional[Tensor],
            channels_first: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return _backward_impl(grad, x, alpha, weight, channels_first)


@dyt_bwd.register_fake
def _(grad, x, alpha, weight, channels_first):
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    c = _channels(x, channels_first)
    dx = _out_like(x, channels_first and x.ndim > 2)
    return dx, x.new_empty(1, dtype=dt), x.new_empty(c, dtype=dt), x.new_empty(c, dtype=dt)


def _setup_context(ctx, inputs, output):
    x, alpha, weight, bias, channels_first = inputs
    ctx.save_for_backward(x, alpha, weight)  # one activation: x
    ctx.channels_first = channels_first
    ctx.bias_dtype = bias.dtype if bias is not None else None


def _grads(ctx, grad, backward_fn):
    x, alpha, weight = ctx.saved_tensors
    dx, da, dw, db = backward_fn(grad, x, alpha, weight, ctx.channels_first)
    need = ctx.needs_input_grad
    return (
        dx if need[0] else None,
        _cast(da, alpha.dtype) if need[1] else None,
        _cast(dw, weight.dtype) if need[2] else None,
        _cast(db, ctx.bias_dtype) if need[3] else None,
        None,
    )


def _cast(t: Tensor, dtype: torch.dtype) -> Tensor:
    return t if t.dtype == dtype else t.to(dtype)  # skips a dispatch where nothing changes


dyt_fwd.register_autograd(lambda ctx, grad: _grads(ctx, grad, dyt_bwd), setup_context=_setup_context)


class _DyTFunction(torch.autograd.Function):
    """The same forward and backward without the custom-op dispatch (tens of microseconds
    of Python per call): what runs outside torch.compile. Old-style forward(ctx, ...): the
    setup_context style takes torch's slower functorch-aware path on every call."""

    @staticmethod
    def forward(ctx, x, alpha, weight, bias, channels_first):
        _setup_context(ctx, (x, alpha, weight, bias, channels_first), None)
        return _forward(x, alpha, weight, bias, channels_first)

    @staticmethod
    @torch.autograd.function.once_differentiable  # the kernels are not differentiable: say so, not zeros
    def backward(ctx, grad):
        return _grads(ctx, grad, _backward_impl)


def dyt_fused(x: Tensor, alpha: Tensor, weight: Optional[Tensor], bias: Optional[Tensor],
              channels_first: bool) -> Tensor:
    """The fused DyT: one pass forward, one pass backward, one saved activation.

    Eager: an autograd.Function; under torch.compile: the custom op (an opaque graph node)."""
    if torch.compiler.is_compiling():
        return dyt_fwd(x, alpha, weight, bias, channels_first)
    if (not channels_first or x.ndim <= 2) and cpu.rows_ok(x, alpha, weight, bias):
        return dyt_rows_cpu(x, alpha, weight, bias)
    return _DyTFunction.apply(x, alpha, weight, bias, channels_first)


def dyt_rows_cpu(x: Tensor, alpha: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """dyt_fused's common case, where cpu.rows_ok(x, alpha, weight, bias): the C++ autograd node
    (cpu_autograd.py; DyT.forward calls it directly) where it builds, else _DyTFunction."""
    node = cpu_autograd.op()
    return node(x, alpha, weight, bias) if node is not None else _DyTFunction.apply(x, alpha, weight, bias, False)
