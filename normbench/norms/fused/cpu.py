"""The CPU kernels of the fused DyT: a small C file (dyt_cpu.c), compiled at first use and cached.

Why C and not torch.compile: the backward of DyT needs dx (element-wise) plus three
reductions (dweight and dbias per channel, dalpha over everything). Inductor emits the
per-channel reductions and the full reduction as separate loops over x and dy (their
outputs have different sizes), so x and dy are read two or three times; here ONE loop
reads x and dy once, writes dx once and keeps the three partial sums in registers /
L1. The forward is one loop too (read x, write y).

Why plain C through ctypes: the file builds in about a second with any C compiler and
needs nothing of torch's; ctypes releases the GIL during the call. In a training step the
Python around each call is what costs, so the common case (rows_ok) runs through a C++
autograd node built from this same file (cpu_autograd.py); the Python path here serves every
other layout and dtype, and the common case where the node cannot be built. Threads: OpenMP, which resolves to the
libgomp torch itself loaded (same soname; one libgomp in the process's maps), so there is one
thread pool; the thread count is torch.get_num_threads() at each call.

Determinism: the reductions never depend on the thread count or on scheduling. Rows are
cut into a number of chunks that is a function of the shape only; each chunk writes its
own partial sums; the partials are then added in chunk order (in double). Channels-first
maps are reduced per (n, c) plane the same way. No atomics anywhere.

The loops are compute-bound before they are memory-bound on a CPU (tanh is a dozen
vector multiply-adds per value), so the arithmetic is kept lean:
- tanh(z) = z P(z^2) / Q(z^2) with P of degree 3 and Q of degree 4 in z^2, a relative
  minimax fit on [0, 7.9053] (where tanh rounds to 1 in fp32): <= 4.2e-7 from tanh in
  fp32, 7 multiply-adds where the usual 13/6 rational (Eigen, XLA, MLAS) needs 9; a true
  division, which runs beside the FMA units;
- dx = g (1 - t^2) (alpha w) with alpha w precomputed per channel, and dalpha summed as
  sum_c w_c sum_rows g (1 - t^2) x, so w leaves the per-element work;
- fp32 and bf16 have hand-written SIMD loops, one body over two instruction sets: AVX-512
  (16 floats a vector) where the compiler targets it, AVX2+FMA (8) on any other x86-64
  since 2013 (-march=native decides); one row streamed at a time (interleaving rows
  measured slower: more concurrent streams); column tails go through zero-padded
  buffers, so every element gets the same arithmetic. Elsewhere the same formula in
  plain C, vectorised by the compiler; float64 uses libm's tanh (for tests).
  NORMBENCH_FUSED_CPU_ISA=avx2 builds the 8-float loops on an AVX-512 machine too (the
  benchmark's AVX2 figure, and the tests of that path).

Where no compiler is found, or it fails, library() is None and the fused DyT uses its
torch reference ops (normbench/norms/fused/reference.py); `auto` then uses eager.
Set NORMBENCH_FUSED_CPU=0 to switch the kernel off; NORMBENCH_KERNEL_CACHE moves the cache.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

from normbench.errors import NormConfigError

# The C source, shipped as package data beside this file (read once; its text is part of the
# cache key, so an edited file rebuilds).
_SOURCE = (Path(__file__).parent / "dyt_cpu.c").read_text(encoding="utf-8")

# Tried in order; the first that compiles wins. -march=native: the cache key holds the CPU.
# The flags are part of the cache key too (an ISA choice or a test's flags build their own file).
_FLAG_SETS = (
    ("-O3", "-march=native", "-fno-trapping-math", "-fopenmp", "-fPIC", "-shared"),
    ("-O3", "-fno-trapping-math", "-fopenmp", "-fPIC", "-shared"),
    ("-O3", "-fno-trapping-math", "-fopenmp-simd", "-fPIC", "-shared"),
    ("-O2", "-fPIC", "-shared"),
)
# NORMBENCH_FUSED_CPU_ISA: what the SIMD loops may use, on top of -march=native
ISAS = {"native": (), "avx2": ("-mno-avx512f",)}
_SUFFIX = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float64: "f64"}
DTYPES = tuple(_SUFFIX)  # what the kernels take; anything else uses the reference ops

_PAD = 16  # the C side's PAD: partial-sum rows are padded to it

_unavailable_reason: str | None = None

# What the C++ autograd node (cpu_autograd.py) takes: x in these dtypes, parameters fp32.
ROWS_DTYPES = (torch.float32, torch.bfloat16)


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cache_dir() -> Path:
    root = os.environ.get("NORMBENCH_KERNEL_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "normbench" / "kernels"


def _cpu_id() -> str:
    """What -march=native depends on: the CPU's model and flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "|".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags", "Features"))}))
    except OSError:
        return platform.processor()


def isa() -> str:
    """NORMBENCH_FUSED_CPU_ISA, checked: native (default) or avx2."""
    name = os.environ.get("NORMBENCH_FUSED_CPU_ISA", "native")
    if name not in ISAS:
        raise NormConfigError(f"NORMBENCH_FUSED_CPU_ISA = {name!r} is not an instruction set the DyT kernel knows; "
                              f"allowed: {', '.join(ISAS)}")
    return name


def flag_sets() -> tuple[tuple[str, ...], ...]:
    """_FLAG_SETS with NORMBENCH_FUSED_CPU_ISA's flags after each -march=native."""
    extra = ISAS[isa()]
    return tuple(f + extra if "-march=native" in f else f for f in _FLAG_SETS)


def _build(cc: str) -> Path:
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60).stdout
    sets = flag_sets()
    key = hashlib.sha256("\0".join([_SOURCE, cc, version, platform.machine(), _cpu_id(), repr(sets)]).encode()
                         ).hexdigest()[:16]
    out = _cache_dir() / f"dyt_cpu_{key}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        src = Path(tmp) / "dyt_cpu.c"
        src.write_text(_SOURCE)
        for flags in sets:
            lib = Path(tmp) / "dyt_cpu.so"
            proc = subprocess.run([cc, *flags, str(src), "-o", str(lib), "-lm"],
                                  capture_output=True, text=True, timeout=300)
            if proc.returncode == 0:
                os.replace(lib, out)  # atomic: parallel runs of a sweep may build at once
                return out
            errors.append(f"{' '.join(flags)}: {proc.stderr.strip().splitlines()[-1:] or ''}")
    raise RuntimeError("; ".join(errors))


@functools.lru_cache(maxsize=None)
def library() -> ctypes.CDLL | None:
    """The compiled kernels, built on first use; None where they cannot be (reason())."""
    global _unavailable_reason
    if os.environ.get("NORMBENCH_FUSED_CPU", "1") == "0":
        _unavailable_reason = "switched off by NORMBENCH_FUSED_CPU=0"
        return None
    cc = _compiler()
    if cc is None:
        _unavailable_reason = "no C compiler found (set CC, or install gcc or clang)"
        return None
    try:
        lib = ctypes.CDLL(str(_build(cc)))
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        _unavailable_reason = f"building the C kernel with {cc} failed: {e}"
        warnings.warn(f"normbench fused DyT: {_unavailable_reason}; using torch ops", stacklevel=2)
        return None
    ptr, i64, cint = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for sfx in _SUFFIX.values():
        getattr(lib, f"dyt_fwd_rows_{sfx}").argtypes = [ptr] * 5 + [i64, i64, cint]
        getattr(lib, f"dyt_fwd_planes_{sfx}").argtypes = [ptr] * 5 + [i64, i64, i64, cint]
        getattr(lib, f"dyt_bwd_rows_{sfx}").argtypes = [ptr] * 10 + [i64, i64, i64, cint]
        getattr(lib, f"dyt_bwd_planes_{sfx}").argtypes = [ptr] * 9 + [i64, i64, i64, cint]
        for kind in ("fwd_rows", "fwd_planes", "bwd_rows", "bwd_planes"):
            getattr(lib, f"dyt_{kind}_{sfx}").restype = None
    lib.dyt_simd_width.restype = lib.dyt_pad.restype = ctypes.c_int
    lib.dyt_num_chunks.argtypes, lib.dyt_num_chunks.restype = [i64], i64
    if lib.dyt_pad() != _PAD:
        _unavailable_reason = f"the C kernel's padding {lib.dyt_pad()} is not {_PAD}"
        return None
    _unavailable_reason = None
    return lib


def reason() -> str | None:
    """Why library() is None (after it was called), else None."""
    return _unavailable_reason


def supports(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.dtype in _SUFFIX and library() is not None


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the kernels compute and reduce in: fp64 for fp64, else fp32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def num_chunks(rows: int) -> int:
    """How many row chunks the backward reduces: a function of the shape only (determinism; dyt_cpu.c)."""
    return library().dyt_num_chunks(rows)


def _padded(c: int) -> int:
    return -(-c // _PAD) * _PAD


def simd_width() -> int:
    """Floats per vector in the fp32/bf16 loops: 16 with AVX-512, 8 with AVX2+FMA, 1 (compiler's choice)
    else; 0 without the kernel."""
    lib = library()
    return 0 if lib is None else lib.dyt_simd_width()


def _p(t: torch.Tensor) -> int:
    return t.data_ptr()


def forward(x: torch.Tensor, alpha: torch.Tensor, w: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
    """out = w * tanh(alpha * x) + b for x, out of shape (N, C, S), contiguous; S == 1: rows.

    alpha, w, b: contiguous, in compute_dtype(x.dtype)."""
    n, c, s = x.shape
    lib, sfx, nt = library(), _SUFFIX[x.dtype], torch.get_num_threads()
    if s == 1:
        getattr(lib, f"dyt_fwd_rows_{sfx}")(_p(x), _p(out), _p(alpha), _p(w), _p(b), n, c, nt)
    else:
        getattr(lib, f"dyt_fwd_planes_{sfx}")(_p(x), _p(out), _p(alpha), _p(w), _p(b), n, c, s, nt)


def backward(g: torch.Tensor, x: torch.Tensor, alpha: torch.Tensor, w: torch.Tensor, dx: torch.Tensor):
    """(dalpha (1,), dweight (C,), dbias (C,)) in compute_dtype(x.dtype); dx written in place.

    g, x, dx: (N, C, S), contiguous; S == 1: rows."""
    n, c, s = x.shape
    acc = compute_dtype(x.dtype)
    out_w, out_b, out_a = torch.empty(c, dtype=acc), torch.empty(c, dtype=acc), torch.empty(1, dtype=acc)
    lib, sfx, nt = library(), _SUFFIX[x.dtype], torch.get_num_threads()
    if s == 1:
        k = num_chunks(n)
        ws, pa = torch.empty(3 * k * _padded(c) + c, dtype=acc), torch.empty(k, dtype=acc)
        getattr(lib, f"dyt_bwd_rows_{sfx}")(_p(x), _p(g), _p(dx), _p(alpha), _p(w), _p(ws), _p(pa),
                                            _p(out_w), _p(out_b), _p(out_a), n, c, k, nt)
    else:
        ws = torch.empty(3 * n * c, dtype=acc)
        getattr(lib, f"dyt_bwd_planes_{sfx}")(_p(x), _p(g), _p(dx), _p(alpha), _p(w), _p(ws),
                                              _p(out_w), _p(out_b), _p(out_a), n, c, s, nt)
    return out_a, out_w, out_b


def rows_ok(x: torch.Tensor, alpha: torch.Tensor, w, b) -> bool:
    """True where the C++ autograd node (cpu_autograd.py) takes x as it is: a contiguous, non-empty CPU
    fp32 or bf16 tensor, channels on its last dim, and fp32 alpha, weight and bias (a DyT's own)."""
    return (x.device.type == "cpu" and x.dtype in ROWS_DTYPES and w is not None and b is not None
            and x.is_contiguous() and x.numel() > 0 and alpha.dtype == w.dtype == b.dtype == torch.float32
            and library() is not None)

