"""The CPU kernels of the fused DyT: a small C file, compiled at first use and cached.

Why C and not torch.compile: the backward of DyT needs dx (element-wise) plus three
reductions (dweight and dbias per channel, dalpha over everything). Inductor emits the
per-channel reductions and the full reduction as separate loops over x and dy (their
outputs have different sizes), so x and dy are read two or three times; here ONE loop
reads x and dy once, writes dx once and keeps the three partial sums in registers /
L1. The forward is one loop too (read x, write y).

Why plain C through ctypes and not a torch C++ extension: it needs no torch headers and
no ninja (torch.utils.cpp_extension needs both and takes a minute to build); the file
builds in about a second with any C compiler, and ctypes releases the GIL during the
call. Threads: OpenMP, which resolves to the libgomp torch itself loaded (same soname),
so there is one thread pool; the thread count is torch.get_num_threads() at each call.

Determinism: the reductions never depend on the thread count or on scheduling. Rows are
cut into a number of chunks that is a function of the shape only; each chunk writes its
own partial sums; the partials are then added in chunk order (in double). Channels-first
maps are reduced per (n, c) plane the same way. No atomics anywhere.

tanh in fp32 is the rational approximation of Eigen / XLA / ONNX Runtime's MLAS (13/6
degree, clamped at 7.9053, where tanh rounds to 1 in fp32): a few ulp from libm, only
mul/add/div, so the compiler vectorises it. float64 inputs use libm's tanh (tests).

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

_SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef int64_t i64;

/* tanh(z) in fp32: odd rational minimax p(z)/q(z), degrees 13/6 (Eigen, XLA, MLAS). */
static inline float tanh_f32(float z) {
    z = z > 7.90531110763549805f ? 7.90531110763549805f : z;
    z = z < -7.90531110763549805f ? -7.90531110763549805f : z;
    const float z2 = z * z;
    float p = -2.76076847742355e-16f;
    p = p * z2 + 2.00018790482477e-13f;
    p = p * z2 + -8.60467152213735e-11f;
    p = p * z2 + 5.12229709037114e-08f;
    p = p * z2 + 1.48572235717979e-05f;
    p = p * z2 + 6.37261928875436e-04f;
    p = p * z2 + 4.89352455891786e-03f;
    p = p * z;
    float q = 1.19825839466702e-06f;
    q = q * z2 + 1.18534705686654e-04f;
    q = q * z2 + 2.26843463243900e-03f;
    q = q * z2 + 4.89352518554385e-03f;
    return p / q;
}

static inline double tanh_f64(double z) { return tanh(z); }

static inline float ld_f32(const float *p, i64 i) { return p[i]; }
static inline void st_f32(float *p, i64 i, float v) { p[i] = v; }
static inline double ld_f64(const double *p, i64 i) { return p[i]; }
static inline void st_f64(double *p, i64 i, double v) { p[i] = v; }

/* bfloat16 is the top half of a float: widen by a shift, narrow with round-to-nearest-even */
static inline float ld_bf16(const uint16_t *p, i64 i) {
    uint32_t u = (uint32_t)p[i] << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline void st_bf16(uint16_t *p, i64 i, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = (u >> 16) | 0x40u; /* keep NaN a quiet NaN */
    p[i] = (uint16_t)(((u & 0x7FFFFFFFu) > 0x7F800000u) ? nan : r);
}

static inline i64 min64(i64 a, i64 b) { return a < b ? a : b; }

/*
 * x, y, g, dx: contiguous (rows, C) ["rows": channels last] or (N, C, S) ["planes":
 * channels first]. alpha: 1 value; w, b: C values, in the compute type P.
 * Backward: dw[c] = sum g*t, db[c] = sum g, da = sum g*w*x*(1-t^2), dx = g*w*a*(1-t^2).
 * ws: workspace of 3*K*C (rows) or 3*N*C (planes) P values; pa: K values (rows).
 */
#define DEFINE_KERNELS(NAME, T, P, LD, ST, TANH)                                              \
/* one row (or plane) per call: restrict on parameters is what lets the compiler vectorise */ \
static void fwd_span_##NAME(const T *restrict x, T *restrict y, P a, const P *restrict w,      \
                            const P *restrict b, i64 n) {                                     \
    for (i64 i = 0; i < n; i++) ST(y, i, w[i] * TANH(a * LD(x, i)) + b[i]);                   \
}                                                                                             \
static void fwd_plane_##NAME(const T *restrict x, T *restrict y, P a, P wc, P bc, i64 n) {     \
    for (i64 i = 0; i < n; i++) ST(y, i, wc * TANH(a * LD(x, i)) + bc);                       \
}                                                                                             \
static void bwd_row_##NAME(const T *restrict x, const T *restrict g, T *restrict dx, P a,     \
                           const P *restrict w, P *restrict sw, P *restrict sb,               \
                           P *restrict sa, i64 C) {                                           \
    for (i64 c = 0; c < C; c++) {                                                             \
        const P xv = LD(x, c), gv = LD(g, c);                                                 \
        const P t = TANH(a * xv);                                                             \
        const P gws = gv * w[c] * (1 - t * t);                                                \
        ST(dx, c, a * gws);                                                                   \
        sw[c] += gv * t;                                                                      \
        sb[c] += gv;                                                                          \
        sa[c] += gws * xv;                                                                    \
    }                                                                                         \
}                                                                                             \
static void bwd_plane_##NAME(const T *restrict x, const T *restrict g, T *restrict dx, P a,   \
                             P wc, P *restrict out, i64 S) {                                  \
    P sw = 0, sb = 0, sa = 0;                                                                 \
    _Pragma("omp simd reduction(+:sw,sb,sa)")                                                 \
    for (i64 s = 0; s < S; s++) {                                                             \
        const P xv = LD(x, s), gv = LD(g, s);                                                 \
        const P t = TANH(a * xv);                                                             \
        const P gws = gv * wc * (1 - t * t);                                                  \
        ST(dx, s, a * gws);                                                                   \
        sw += gv * t;                                                                         \
        sb += gv;                                                                             \
        sa += gws * xv;                                                                       \
    }                                                                                         \
    out[0] = sw;                                                                              \
    out[1] = sb;                                                                              \
    out[2] = sa;                                                                              \
}                                                                                             \
                                                                                              \
void dyt_fwd_rows_##NAME(const T *x, T *y, const P *alpha, const P *w, const P *b,            \
                         i64 rows, i64 C, int nt) {                                           \
    const P a = alpha[0];                                                                     \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                              \
    for (i64 r = 0; r < rows; r++) fwd_span_##NAME(x + r * C, y + r * C, a, w, b, C);         \
}                                                                                             \
                                                                                              \
void dyt_fwd_planes_##NAME(const T *x, T *y, const P *alpha, const P *w, const P *b,          \
                           i64 N, i64 C, i64 S, int nt) {                                     \
    const P a = alpha[0];                                                                     \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                              \
    for (i64 pl = 0; pl < N * C; pl++)                                                        \
        fwd_plane_##NAME(x + pl * S, y + pl * S, a, w[pl % C], b[pl % C], S);                 \
}                                                                                             \
                                                                                              \
void dyt_bwd_rows_##NAME(const T *x, const T *g, T *dx, const P *alpha, const P *w, P *ws,    \
                         P *pa, P *out_w, P *out_b, P *out_a, i64 rows, i64 C, i64 K,         \
                         int nt) {                                                            \
    const P a = alpha[0];                                                                     \
    const i64 per = (rows + K - 1) / K;                                                       \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                              \
    for (i64 k = 0; k < K; k++) {                                                             \
        P *sw = ws + k * C, *sb = ws + (K + k) * C, *sa = ws + (2 * K + k) * C;               \
        for (i64 c = 0; c < C; c++) { sw[c] = 0; sb[c] = 0; sa[c] = 0; }                      \
        const i64 r1 = min64(rows, (k + 1) * per);                                            \
        for (i64 r = k * per; r < r1; r++)                                                    \
            bwd_row_##NAME(x + r * C, g + r * C, dx + r * C, a, w, sw, sb, sa, C);            \
        double acc = 0;                                                                       \
        for (i64 c = 0; c < C; c++) acc += sa[c];                                             \
        pa[k] = (P)acc;                                                                       \
    }                                                                                         \
    /* chunk partials added in chunk order, whatever thread made them */                     \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                              \
    for (i64 c = 0; c < C; c++) {                                                             \
        double aw = 0, ab = 0;                                                                \
        for (i64 k = 0; k < K; k++) { aw += ws[k * C + c]; ab += ws[(K + k) * C + c]; }       \
        out_w[c] = (P)aw;                                                                     \
        out_b[c] = (P)ab;                                                                     \
    }                                                                                         \
    double aa = 0;                                                                            \
    for (i64 k = 0; k < K; k++) aa += pa[k];                                                  \
    out_a[0] = (P)aa;                                                                         \
}                                                                                             \
                                                                                              \
void dyt_bwd_planes_##NAME(const T *x, const T *g, T *dx, const P *alpha, const P *w, P *ws,  \
                           P *out_w, P *out_b, P *out_a, i64 N, i64 C, i64 S, int nt) {       \
    const P a = alpha[0];                                                                     \
    const i64 NC = N * C;                                                                     \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                              \
    for (i64 pl = 0; pl < NC; pl++)                                                           \
        bwd_plane_##NAME(x + pl * S, g + pl * S, dx + pl * S, a, w[pl % C], ws + 3 * pl, S);  \
    /* plane partials added in plane order */                                                 \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                              \
    for (i64 c = 0; c < C; c++) {                                                             \
        double aw = 0, ab = 0;                                                                \
        for (i64 n = 0; n < N; n++) { aw += ws[3 * (n * C + c)]; ab += ws[3 * (n * C + c) + 1]; } \
        out_w[c] = (P)aw;                                                                     \
        out_b[c] = (P)ab;                                                                     \
    }                                                                                         \
    double aa = 0;                                                                            \
    for (i64 pl = 0; pl < NC; pl++) aa += ws[3 * pl + 2];                                     \
    out_a[0] = (P)aa;                                                                         \
}

DEFINE_KERNELS(f32, float, float, ld_f32, st_f32, tanh_f32)
DEFINE_KERNELS(bf16, uint16_t, float, ld_bf16, st_bf16, tanh_f32)
DEFINE_KERNELS(f64, double, double, ld_f64, st_f64, tanh_f64)

int dyt_abi_version(void) { return 1; }
"""

# Tried in order; the first that compiles wins. -march=native: the cache key holds the CPU.
_FLAG_SETS = (
    ("-O3", "-march=native", "-fno-trapping-math", "-fopenmp", "-fPIC", "-shared"),
    ("-O3", "-fno-trapping-math", "-fopenmp", "-fPIC", "-shared"),
    ("-O3", "-fno-trapping-math", "-fopenmp-simd", "-fPIC", "-shared"),
    ("-O2", "-fPIC", "-shared"),
)
_SUFFIX = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float64: "f64"}
DTYPES = tuple(_SUFFIX)  # what the kernels take; anything else uses the reference ops

# Rows are reduced in at most this many chunks of at least _MIN_CHUNK_ROWS rows: enough
# chunks to feed 16+ threads, few enough that the partials are < 1 % of the traffic.
_MAX_CHUNKS = 64
_MIN_CHUNK_ROWS = 8

_unavailable_reason: str | None = None


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


def _build(cc: str) -> Path:
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60).stdout
    key = hashlib.sha256("\0".join([_SOURCE, cc, version, platform.machine(), _cpu_id()]).encode()).hexdigest()[:16]
    out = _cache_dir() / f"dyt_cpu_{key}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        src = Path(tmp) / "dyt_cpu.c"
        src.write_text(_SOURCE)
        for flags in _FLAG_SETS:
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
    """How many row chunks the backward reduces: a function of the shape only (determinism)."""
    return max(1, min(_MAX_CHUNKS, rows // _MIN_CHUNK_ROWS))


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
        ws, pa = torch.empty(3 * k * c, dtype=acc), torch.empty(k, dtype=acc)
        getattr(lib, f"dyt_bwd_rows_{sfx}")(_p(x), _p(g), _p(dx), _p(alpha), _p(w), _p(ws), _p(pa),
                                            _p(out_w), _p(out_b), _p(out_a), n, c, k, nt)
    else:
        ws = torch.empty(3 * n * c, dtype=acc)
        getattr(lib, f"dyt_bwd_planes_{sfx}")(_p(x), _p(g), _p(dx), _p(alpha), _p(w), _p(ws),
                                              _p(out_w), _p(out_b), _p(out_a), n, c, s, nt)
    return out_a, out_w, out_b
