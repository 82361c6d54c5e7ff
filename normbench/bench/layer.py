"""The norm-layer benchmark: LN, RMSNorm and DyT (eager / compiled / fused) against a copy.

For each case (shape, layout, dtype) every candidate runs forward (under no_grad) and
forward+backward (autograd.grad of x and the parameters, so no gradient is accumulated
into a .grad: that would add a pass), all interleaved in one process with a clone of the
input (timing.py). Ideal bytes: forward reads x and writes y; the backward reads x again
(the saved activation) and dy, and writes dx, so forward+backward is 5 passes (parameters
are C-sized and ignored). The roofline time is those
bytes at the clone's bandwidth (a clone reads and writes the tensor once).

Parameters are in the input's dtype (the pure-bf16 case: every layer on its native
path). Shapes: "8192x384" is channels last (rows x C, or B x T x C); 4-D shapes are
channels first (N, C, H, W); a "cl:" or "cf:" prefix says it explicitly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from normbench.norms import build_norm
from normbench.norms import dyt as dyt_module
from normbench.norms.fused import ops

from .timing import time_interleaved

# dyt_kernel: the fused DyT's C kernels alone, on preallocated outputs (no autograd node, no new y or dx);
# dyt_node: the C++ autograd node around them called directly (torch.ops.normbench_cpu.dyt_rows, no
# nn.Module), so dyt_node - dyt_kernel is the node and dyt_fused - dyt_node the module's Python (issue 27)
CANDIDATES = ("layernorm", "rmsnorm", "dyt_eager", "dyt_compiled", "dyt_fused", "dyt_kernel", "dyt_node", "liger_dyt")
DEFAULT_CANDIDATES = ("layernorm", "rmsnorm", "dyt_eager", "dyt_compiled", "dyt_fused")
MODES = ("fwd", "fwdbwd")
# transformer widths (ViT-S/B-like tokens x C), and ConvNeXt-T's stage maps at a CPU-sized batch
DEFAULT_SHAPES = ("8192x384", "16384x768", "cf:16x96x56x56", "cf:16x384x14x14")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_BACKEND_NAMES = {"cpu": "c-kernel", "triton_gpu": "triton", "reference": "torch-ops"}


class BenchError(ValueError):
    """A bad benchmark argument: one line, naming the value and what is allowed."""


@dataclass(frozen=True)
class Case:
    shape: tuple[int, ...]
    layout: str  # channels_last | channels_first
    dtype: str  # a key of DTYPES

    @property
    def channels(self) -> int:
        return self.shape[1] if self.layout == "channels_first" else self.shape[-1]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPES[self.dtype].itemsize

    @property
    def label(self) -> str:
        lay = "cf" if self.layout == "channels_first" else "cl"
        return f"{'x'.join(map(str, self.shape))} {lay} {self.dtype}"


def parse_shape(spec: str) -> tuple[tuple[int, ...], str]:
    """'8192x384' -> ((8192, 384), channels_last); 'cf:16x96x56x56' -> channels_first."""
    text = spec.strip()
    layout = None
    if text[:3] in ("cl:", "cf:"):
        layout = "channels_last" if text[:2] == "cl" else "channels_first"
        text = text[3:]
    try:
        shape = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) < 2 or any(d < 1 for d in shape):
        raise BenchError(f"--shapes: {spec!r} is not a shape; allowed: dims >= 1 joined by x, at least two "
                         f"(8192x384, cf:16x96x56x56), optionally prefixed cl: or cf:")
    if layout is None:
        layout = "channels_first" if len(shape) == 4 else "channels_last"
    if layout == "channels_first" and len(shape) < 3:
        raise BenchError(f"--shapes: {spec!r} is channels first and needs (N, C, spatial...)")
    return shape, layout


def _pick(kind: str, value: str, allowed) -> str:
    if value not in allowed:
        raise BenchError(f"--{kind}: {value!r} is unknown; allowed: {', '.join(allowed)}")
    return value


def parse_list(kind: str, text: str, allowed) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise BenchError(f"--{kind} is empty; allowed: {', '.join(allowed)}")
    return [_pick(kind, t, allowed) for t in items]


def build_candidate(name: str, case: Case, device: torch.device, x: torch.Tensor):
    """(module, backend, None) or (None, None, why it cannot run here)."""
    c, layout, dtype = case.channels, case.layout, DTYPES[case.dtype]
    backend = "torch"
    if name in ("layernorm", "rmsnorm"):
        module = build_norm(name, c, layout=layout)
    elif name == "liger_dyt":
        if device.type != "cuda" or layout != "channels_last":
            return None, None, "Liger's DyT runs on CUDA, channels last only"
        try:
            from liger_kernel.transformers import LigerDyT
        except ImportError:
            return None, None, "liger_kernel is not installed"
        module, backend = LigerDyT(c), "liger-triton"
    elif name == "dyt_kernel":
        from normbench.norms.fused import cpu

        if device.type != "cpu" or layout != "channels_last" or dtype not in cpu.DTYPES:
            return None, None, "the C kernels alone run on the CPU, channels last, fp32 / bf16 / fp64"
        if cpu.library() is None:
            return None, None, f"no C kernel: {cpu.reason()}"
        module, backend = build_norm("dyt", c, layout=layout, impl="fused"), "c-kernel, no autograd"
    elif name == "dyt_node":
        from normbench.norms.fused import cpu, cpu_autograd

        if device.type != "cpu" or layout != "channels_last" or dtype not in cpu.ROWS_DTYPES:
            return None, None, "the C++ autograd node runs on the CPU, channels last, fp32 / bf16"
        if cpu_autograd.op() is None:
            return None, None, f"no C++ autograd node: {cpu_autograd.reason()}"
        module, backend = build_norm("dyt", c, layout=layout, impl="fused"), "c-kernel, C++ node"
    else:
        impl = name.removeprefix("dyt_")
        if impl == "compiled":
            why = dyt_module.compile_unavailable(device.type)
            if why is not None:
                return None, None, why
            backend = "inductor"
        if impl == "fused":
            backend = _BACKEND_NAMES.get(ops.backend(x).__name__.rsplit(".", 1)[-1], "?")
        module = build_norm("dyt", c, layout=layout, impl=impl)
    return module.to(device=device, dtype=dtype), backend, None


def kernel_call(module: torch.nn.Module, x: torch.Tensor, dy: torch.Tensor, mode: str):
    """dyt_kernel: cpu.forward (and cpu.backward) into y and dx allocated once, as a (rows, C, 1) view;
    fwdbwd returns (dx, dalpha, dweight, dbias), dx the preallocated buffer it wrote."""
    from normbench.norms.fused import cpu

    c = x.shape[-1]
    x3, dy3 = x.reshape(-1, c, 1), dy.reshape(-1, c, 1)
    y, dx = torch.empty_like(x3), torch.empty_like(x3)
    acc = cpu.compute_dtype(x.dtype)  # the parameters the kernels read
    alpha, w, b = (t.detach().to(acc).reshape(-1) for t in (module.alpha, module.weight, module.bias))

    def fwd():
        cpu.forward(x3, alpha, w, b, y)
        return y

    def fwdbwd():
        cpu.forward(x3, alpha, w, b, y)
        return (dx, *cpu.backward(dy3, x3, alpha, w, dx))
    return fwd if mode == "fwd" else fwdbwd


def node_call(module: torch.nn.Module, x: torch.Tensor, dy: torch.Tensor, mode: str):
    """dyt_node: the C++ autograd node on the module's parameters, without the module's forward."""
    from normbench.norms.fused import cpu_autograd

    op, params = cpu_autograd.op(), (module.alpha, module.weight, module.bias)
    if mode == "fwd":
        def fwd():
            with torch.no_grad():
                return op(x, *params)
        return fwd
    xg = x.detach().requires_grad_()

    def fwdbwd():
        return torch.autograd.grad(op(xg, *params), [xg, *params], dy)
    return fwdbwd


def make_call(module: torch.nn.Module, x: torch.Tensor, dy: torch.Tensor, mode: str):
    if mode == "fwd":
        def fwd():
            with torch.no_grad():
                return module(x)
        return fwd
    xg = x.detach().requires_grad_()
    inputs = [xg, *(p for p in module.parameters() if p.requires_grad)]

    def fwdbwd():
        return torch.autograd.grad(module(xg), inputs, dy)
    return fwdbwd


def bench_case(case: Case, candidates: list[str], modes: list[str], device: torch.device, *,
               repeats: int, warmup: int, block_s: float, seed: int = 0) -> list[dict]:
    """One row per (candidate, mode) plus the copy, every candidate timed in one interleaved run."""
    dtype = DTYPES[case.dtype]
    g = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(case.shape, generator=g).to(device=device, dtype=dtype)
    dy = torch.randn(case.shape, generator=g).to(device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if "dyt_compiled" in candidates:  # compile afresh for this case: static shapes, and never
        torch._dynamo.reset()         # past dynamo's recompile limit (it would run eager silently)

    fns, meta = {"copy": x.clone}, {}
    for name in candidates:
        module, backend, why = build_candidate(name, case, device, x)
        for mode in modes:
            row = {"candidate": name, "mode": mode, "backend": backend or ""}
            if module is not None:
                fn = {"dyt_kernel": kernel_call, "dyt_node": node_call}.get(name, make_call)(module, x, dy, mode)
                try:
                    fn()  # compiles where it compiles; fails here, not in the timing loop
                    sync()
                except Exception as e:  # noqa: BLE001 - a candidate that cannot run is a row, not a crash
                    why = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
                else:
                    fns[f"{name}/{mode}"] = fn
            if f"{name}/{mode}" not in fns:
                row["status"] = f"skipped: {why}"
            meta[f"{name}/{mode}"] = row
    timings = time_interleaved(fns, repeats=repeats, warmup=warmup, block_s=block_s, sync=sync)

    copy_s = timings["copy"].median
    copy_bw = 2 * case.nbytes / copy_s
    base = {"case": case.label, "shape": "x".join(map(str, case.shape)), "layout": case.layout,
            "dtype": case.dtype, "device": device.type, "numel": case.numel}
    out = [{**base, "candidate": "copy", "mode": "copy", "backend": "torch", "status": "ok",
            **_numbers(timings["copy"], 2 * case.nbytes, copy_bw)}]
    for key, row in meta.items():
        if key in timings:
            ideal = (2 if row["mode"] == "fwd" else 5) * case.nbytes
            row.update(status="ok", **_numbers(timings[key], ideal, copy_bw))
        out.append({**base, **row})
    for row in out:  # x LayerNorm: the same mode's LN time in this case
        ln = next((r for r in out if r["candidate"] == "layernorm" and r["mode"] == row["mode"]
                   and r.get("status") == "ok"), None)
        if row.get("status") == "ok" and ln is not None:
            row["x_layernorm"] = row["median_ms"] / ln["median_ms"]
    return out


def _numbers(t, ideal_bytes: int, copy_bw: float) -> dict:
    median = t.median
    roof = ideal_bytes / copy_bw
    return {
        "median_ms": median * 1e3, "q25_ms": t.quantile(0.25) * 1e3, "q75_ms": t.quantile(0.75) * 1e3,
        "blocks": len(t.per_call_s), "calls_per_block": t.calls_per_block,
        "ideal_bytes": ideal_bytes, "gbps": ideal_bytes / median / 1e9,
        "copy_gbps": copy_bw / 1e9, "roofline_ms": roof * 1e3, "x_roofline": median / roof,
    }
