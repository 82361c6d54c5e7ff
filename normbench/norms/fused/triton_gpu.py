"""The CUDA kernels of the fused DyT, in Triton (a forward and a backward per layout).

Same contract as cpu.py: tensors of shape (N, C, S), contiguous, S == 1 for channels
last ("rows": each row holds the C channels), S > 1 for channels first ("planes": each
(n, c) plane holds S contiguous values). Compute and reductions in fp32.

The backward reads x and dy once and writes dx once; each program keeps its partial
sums of dweight, dbias and dalpha in registers and writes them to its own slot of a
small buffer, which torch then sums (a fixed-order, deterministic reduction on CUDA).
How many programs share the rows is a function of the shape and dtype only, never of the GPU,
so the gradients are bit-identical run to run. No atomics.

This module is imported only when a CUDA tensor reaches the fused DyT (ops.py), so a
CPU run never imports triton; supports() is False wherever triton is missing.
"""

from __future__ import annotations

import os

import torch

DTYPES = (torch.float32, torch.bfloat16, torch.float16)
# The kernels load alpha, weight and bias in any float dtype and compute in fp32, so ops.py
# need not convert bf16 parameters first (each conversion is a kernel launch per call).
ANY_PARAM_DTYPE = True


try:
    import triton
    import triton.language as tl
except ImportError:  # supports() is False; nothing below is defined
    triton = None

if triton is not None:
    try:
        from triton.language.extra import libdevice
    except ImportError:
        libdevice = None
    if os.environ.get("TRITON_INTERPRET") == "1":  # the CPU interpreter has no libdevice
        libdevice = None

    if libdevice is not None:

        @triton.jit
        def _tanh(z):
            return libdevice.tanh(z)

    else:

        @triton.jit
        def _tanh(z):
            # sign(z) (1 - e) / (1 + e), e = exp(-2|z|): no overflow at any z
            e = tl.exp(-2.0 * tl.abs(z))
            t = (1.0 - e) / (1.0 + e)
            return tl.where(z < 0, -t, t)

    @triton.jit
    def fwd_rows(X, Y, A, W, B, R, C, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
        rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
        cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
        cmask = cols < C
        mask = (rows[:, None] < R) & cmask[None, :]
        offs = rows[:, None].to(tl.int64) * C + cols[None, :]
        a = tl.load(A).to(tl.float32)
        w = tl.load(W + cols, mask=cmask, other=0.0).to(tl.float32)
        b = tl.load(B + cols, mask=cmask, other=0.0).to(tl.float32)
        x = tl.load(X + offs, mask=mask, other=0.0).to(tl.float32)
        y = w[None, :] * _tanh(a * x) + b[None, :]
        tl.store(Y + offs, y.to(Y.dtype.element_ty), mask=mask)

    @triton.jit
    def fwd_planes(X, Y, A, W, B, C, S, BLOCK_S: tl.constexpr):
        plane = tl.program_id(0)
        s = tl.program_id(1) * BLOCK_S + tl.arange(0, BLOCK_S)
        mask = s < S
        offs = plane.to(tl.int64) * S + s
        c = plane % C
        a = tl.load(A).to(tl.float32)
        w = tl.load(W + c).to(tl.float32)
        b = tl.load(B + c).to(tl.float32)
        x = tl.load(X + offs, mask=mask, other=0.0).to(tl.float32)
        y = w * _tanh(a * x) + b
        tl.store(Y + offs, y.to(Y.dtype.element_ty), mask=mask)

    @triton.jit
    def bwd_rows(X, G, DX, A, W, PW, PB, PA, R, C, ROWS_PER_PROG,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
        pid_m = tl.program_id(0)
        pid_n = tl.program_id(1)
        cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        cmask = cols < C
        a = tl.load(A).to(tl.float32)
        w = tl.load(W + cols, mask=cmask, other=0.0).to(tl.float32)
        sw = tl.zeros([BLOCK_N], dtype=tl.float32)
        sb = tl.zeros([BLOCK_N], dtype=tl.float32)
        sa = tl.zeros([BLOCK_N], dtype=tl.float32)
        row0 = pid_m * ROWS_PER_PROG
        for r in range(row0, row0 + ROWS_PER_PROG, BLOCK_M):  # ROWS_PER_PROG: a multiple of BLOCK_M
            rows = r + tl.arange(0, BLOCK_M)
            mask = (rows[:, None] < R) & cmask[None, :]
            offs = rows[:, None].to(tl.int64) * C + cols[None, :]
            x = tl.load(X + offs, mask=mask, other=0.0).to(tl.float32)
            g = tl.load(G + offs, mask=mask, other=0.0).to(tl.float32)
            t = _tanh(a * x)
            gws = g * w[None, :] * (1.0 - t * t)
            tl.store(DX + offs, (a * gws).to(DX.dtype.element_ty), mask=mask)
            sw += tl.sum(g * t, axis=0)
            sb += tl.sum(g, axis=0)
            sa += tl.sum(gws * x, axis=0)
        tl.store(PW + pid_m * C + cols, sw, mask=cmask)
        tl.store(PB + pid_m * C + cols, sb, mask=cmask)
        tl.store(PA + pid_m * tl.num_programs(1) + pid_n, tl.sum(sa, axis=0))

    @triton.jit
    def bwd_planes(X, G, DX, A, W, PW, PB, PA, C, S, BLOCK_S: tl.constexpr):
        plane = tl.program_id(0)
        c = plane % C
        a = tl.load(A).to(tl.float32)
        w = tl.load(W + c).to(tl.float32)
        base = plane.to(tl.int64) * S
        sw = tl.zeros([BLOCK_S], dtype=tl.float32)
        sb = tl.zeros([BLOCK_S], dtype=tl.float32)
        sa = tl.zeros([BLOCK_S], dtype=tl.float32)
        for s0 in range(0, S, BLOCK_S):
            s = s0 + tl.arange(0, BLOCK_S)
            mask = s < S
            x = tl.load(X + base + s, mask=mask, other=0.0).to(tl.float32)
            g = tl.load(G + base + s, mask=mask, other=0.0).to(tl.float32)
            t = _tanh(a * x)
            gws = g * w * (1.0 - t * t)
            tl.store(DX + base + s, (a * gws).to(DX.dtype.element_ty), mask=mask)
            sw += g * t
            sb += g
            sa += gws * x
        tl.store(PW + plane, tl.sum(sw, axis=0))
        tl.store(PB + plane, tl.sum(sb, axis=0))
        tl.store(PA + plane, tl.sum(sa, axis=0))


def supports(x: torch.Tensor) -> bool:
    return triton is not None and x.device.type == "cuda" and x.dtype in DTYPES


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def _row_blocks(c: int) -> tuple[int, int]:
    """(BLOCK_M, BLOCK_N) of the forward: 4096-element tiles."""
    block_n = min(256, _next_pow2(c))
    return max(1, 4096 // block_n), block_n


def _bwd_blocks(c: int, itemsize: int) -> tuple[int, int, int]:
    """(BLOCK_M, BLOCK_N, max programs) of the row backward, by element size.

    Measured on an H100 (results/perf/layer_gpu_h100*/tune_bwd.log, 8192x384 to 32768x4096):
    2-byte inputs want 4x larger tiles and twice the programs of 4-byte ones, to keep as
    many bytes in flight; with the fp32 tiling the bf16 backward ran at 4.8x its roofline."""
    if itemsize <= 2:
        block_n = min(128, _next_pow2(c))
        return max(1, 8192 // block_n), block_n, 2048
    block_n = min(256, _next_pow2(c))
    return max(1, 2048 // block_n), block_n, 1024


def forward(x: torch.Tensor, alpha: torch.Tensor, w: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
    n, c, s = x.shape
    if s == 1:
        block_m, block_n = _row_blocks(c)
        grid = (-(-n // block_m), -(-c // block_n))
        fwd_rows[grid](x, out, alpha, w, b, n, c, BLOCK_M=block_m, BLOCK_N=block_n)
    else:
        block_s = min(4096, _next_pow2(s))
        fwd_planes[(n * c, -(-s // block_s))](x, out, alpha, w, b, c, s, BLOCK_S=block_s)


def backward(g: torch.Tensor, x: torch.Tensor, alpha: torch.Tensor, w: torch.Tensor, dx: torch.Tensor):
    """(dalpha (1,), dweight (C,), dbias (C,)) in fp32; dx written in place."""
    n, c, s = x.shape
    f32 = dict(dtype=torch.float32, device=x.device)
    if s == 1:
        block_m, block_n, max_programs = _bwd_blocks(c, x.element_size())
        col_blocks = -(-c // block_n)
        programs = max(1, min(-(-n // block_m), max_programs // col_blocks))
        rows_per_prog = -(-n // (programs * block_m)) * block_m
        programs = -(-n // rows_per_prog)
        pw, pb = torch.empty(programs, c, **f32), torch.empty(programs, c, **f32)
        pa = torch.empty(programs, col_blocks, **f32)
        bwd_rows[(programs, col_blocks)](x, g, dx, alpha, w, pw, pb, pa, n, c, rows_per_prog,
                                         BLOCK_M=block_m, BLOCK_N=block_n)
        return pa.sum().reshape(1), pw.sum(0), pb.sum(0)
    block_s = min(2048, _next_pow2(s))
    pw, pb, pa = (torch.empty(n, c, **f32) for _ in range(3))
    bwd_planes[(n * c,)](x, g, dx, alpha, w, pw, pb, pa, c, s, BLOCK_S=block_s)
    return pa.sum().reshape(1), pw.sum(0), pb.sum(0)
