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

The loops are compute-bound before they are memory-bound on a CPU (tanh is a dozen
vector multiply-adds per value), so the arithmetic is kept lean:
- tanh(z) = z P(z^2) / Q(z^2) with P of degree 3 and Q of degree 4 in z^2, a relative
  minimax fit on [0, 7.9053] (where tanh rounds to 1 in fp32): <= 4.2e-7 from tanh in
  fp32, 7 multiply-adds where the usual 13/6 rational (Eigen, XLA, MLAS) needs 9; a true
  division, which runs beside the FMA units;
- dx = g (1 - t^2) (alpha w) with alpha w precomputed per channel, and dalpha summed as
  sum_c w_c sum_rows g (1 - t^2) x, so w leaves the per-element work;
- fp32 and bf16 have hand-written AVX2+FMA loops where the compiler targets them
  (-march=native on x86-64 since 2013), one row streamed at a time (interleaving rows
  measured slower: more concurrent streams); column tails go through zero-padded
  buffers, so every element gets the same arithmetic. Elsewhere the same formula in
  plain C, vectorised by the compiler; float64 uses libm's tanh (for tests).

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

/* per-chunk partial sums are PAD-aligned rows, so vector tails add zeros, never garbage */
#define PAD 16
static inline i64 padded(i64 c) { return (c + PAD - 1) / PAD * PAD; }
static inline i64 min64(i64 a, i64 b) { return a < b ? a : b; }

/* ---- scalar helpers ------------------------------------------------------------------ */

/* tanh(z) in fp32: z P(z^2) / Q(z^2), P of degree 3 and Q of degree 4 in z^2, a relative
 * minimax fit on [0, 7.9053] (7.9053: where tanh rounds to 1 in fp32); at most 4.2e-7 from
 * tanh (7 ulp, near saturation) in fp32, 7 multiply-adds where Eigen's 13/6 needs 9. The
 * clamps are written so that a NaN z stays NaN; t is clamped to [-1, 1], so 1 - t^2 >= 0. */
#define TANH_ZMAX 7.90531110763549805f
#define TANH_P0 9.999998683965098e-01f
#define TANH_P1 1.293394241533463e-01f
#define TANH_P2 2.959959748186301e-03f
#define TANH_P3 1.152619613755193e-05f
#define TANH_Q1 4.626716853060578e-01f
#define TANH_Q2 2.385199114300527e-02f
#define TANH_Q3 2.399389488155867e-04f
#define TANH_Q4 2.490723500225833e-07f
static inline float tanh_f32(float z) {
    z = TANH_ZMAX < z ? TANH_ZMAX : z;
    z = -TANH_ZMAX > z ? -TANH_ZMAX : z;
    const float u = z * z;
    const float p = z * (((TANH_P3 * u + TANH_P2) * u + TANH_P1) * u + TANH_P0);
    const float q = (((TANH_Q4 * u + TANH_Q3) * u + TANH_Q2) * u + TANH_Q1) * u + 1.0f;
    const float t = p / q;
    return 1.0f < t ? 1.0f : (-1.0f > t ? -1.0f : t);
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

/*
 * The inner loops ("spans"), one row or plane per call (restrict on parameters is what
 * lets a compiler vectorise them):
 *   fwd_span:  y[i] = w[i] * tanh(a x[i]) + b[i]             (a channels-last row)
 *   fwd_plane: y[i] = wc * tanh(a x[i]) + bc                 (a channels-first plane)
 *   bwd_chunk: rows x C: dx, and sw[c] += g t, sb[c] += g, sa[c] += g w x (1 - t^2)
 *   bwd_plane: S values: dx, and out[0..2] = the three sums over the plane
 */
#define DEFINE_GENERIC(NAME, T, P, LD, ST, TANH)                                              \
static void fwd_span_##NAME(const T *restrict x, T *restrict y, P a, const P *restrict w,      \
                            const P *restrict b, i64 n) {                                     \
    for (i64 i = 0; i < n; i++) ST(y, i, w[i] * TANH(a * LD(x, i)) + b[i]);                   \
}                                                                                             \
static void fwd_plane_##NAME(const T *restrict x, T *restrict y, P a, P wc, P bc, i64 n) {     \
    for (i64 i = 0; i < n; i++) ST(y, i, wc * TANH(a * LD(x, i)) + bc);                       \
}                                                                                             \
static void bwd_row_##NAME(const T *restrict x, const T *restrict g, T *restrict dx, P a,     \
                           const P *restrict aw, P *restrict sw, P *restrict sb,              \
                           P *restrict sa, i64 C) {                                           \
    for (i64 c = 0; c < C; c++) {                                                             \
        const P xv = LD(x, c), gv = LD(g, c);                                                 \
        const P t = TANH(a * xv);                                                             \
        const P gs = gv * (1 - t * t);                                                        \
        ST(dx, c, gs * aw[c]);                                                                \
        sw[c] += gv * t;                                                                      \
        sb[c] += gv;                                                                          \
        sa[c] += gs * xv;                                                                     \
    }                                                                                         \
}                                                                                             \
static void bwd_chunk_##NAME(const T *x, const T *g, T *dx, P a, const P *aw, P *sw, P *sb,   \
                             P *sa, i64 rows, i64 C) {                                        \
    for (i64 r = 0; r < rows; r++)                                                            \
        bwd_row_##NAME(x + r * C, g + r * C, dx + r * C, a, aw, sw, sb, sa, C);               \
}                                                                                             \
static void bwd_plane_##NAME(const T *restrict x, const T *restrict g, T *restrict dx, P a,   \
                             P awc, P *restrict out, i64 S) {                                 \
    P sw = 0, sb = 0, sa = 0;                                                                 \
    _Pragma("omp simd reduction(+:sw,sb,sa)")                                                 \
    for (i64 s = 0; s < S; s++) {                                                             \
        const P xv = LD(x, s), gv = LD(g, s);                                                 \
        const P t = TANH(a * xv);                                                             \
        const P gs = gv * (1 - t * t);                                                        \
        ST(dx, s, gs * awc);                                                                  \
        sw += gv * t;                                                                         \
        sb += gv;                                                                             \
        sa += gs * xv;                                                                        \
    }                                                                                         \
    out[0] = sw;                                                                              \
    out[1] = sb;                                                                              \
    out[2] = sa;                                                                              \
}

/* ---- AVX2 + FMA spans for fp32 and bf16 (x86-64 since 2013) ------------------------------ */
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DYT_SIMD 8

typedef __m256 v8;
#define SET1 _mm256_set1_ps

/* tanh of 8 floats, the same function as tanh_f32. min/max return their second operand
 * when one is NaN: a NaN z gives a NaN t. A true division: the divider runs beside the
 * FMA units, which the polynomials keep busy (rcp + a Newton step would add to them). */
static inline v8 tanh8(v8 z) {
    z = _mm256_max_ps(SET1(-TANH_ZMAX), _mm256_min_ps(SET1(TANH_ZMAX), z));
    const v8 u = _mm256_mul_ps(z, z);
    v8 p = _mm256_fmadd_ps(u, SET1(TANH_P3), SET1(TANH_P2));
    p = _mm256_fmadd_ps(p, u, SET1(TANH_P1));
    p = _mm256_mul_ps(_mm256_fmadd_ps(p, u, SET1(TANH_P0)), z);
    v8 q = _mm256_fmadd_ps(u, SET1(TANH_Q4), SET1(TANH_Q3));
    q = _mm256_fmadd_ps(q, u, SET1(TANH_Q2));
    q = _mm256_fmadd_ps(q, u, SET1(TANH_Q1));
    q = _mm256_fmadd_ps(q, u, SET1(1.0f));
    return _mm256_max_ps(SET1(-1.0f), _mm256_min_ps(SET1(1.0f), _mm256_div_ps(p, q)));
}

static inline v8 ld8_f32(const float *p) { return _mm256_loadu_ps(p); }
static inline void st8_f32(float *p, v8 v) { _mm256_storeu_ps(p, v); }
static inline v8 ld8_bf16(const uint16_t *p) {
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
static inline void st8_bf16(uint16_t *p, v8 v) {
    const __m256i u = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), lsb), 16);
    const __m256i qnan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    const __m256i isnan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    r = _mm256_blendv_epi8(r, qnan, isnan);
    _mm_storeu_si128((__m128i *)p, _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
}

/* A tail of n < 8 values goes through zero-padded buffers: the same vector code, so every
 * element gets the same arithmetic, and the padding adds exact zeros to the sums. */
#define DEFINE_AVX2(NAME, T, LD8, ST8)                                                        \
static void fwd_span_##NAME(const T *x, T *y, float a, const float *w, const float *b,         \
                            i64 n) {                                                          \
    const v8 va = SET1(a);                                                                    \
    i64 i = 0;                                                                                \
    for (; i + 8 <= n; i += 8)                                                                \
        ST8(y + i, _mm256_fmadd_ps(_mm256_loadu_ps(w + i),                                    \
                                   tanh8(_mm256_mul_ps(va, LD8(x + i))), _mm256_loadu_ps(b + i))); \
    if (i < n) {                                                                              \
        T xb[8] = {0}, yb[8];                                                                 \
        float wb[8] = {0}, bb[8] = {0};                                                       \
        memcpy(xb, x + i, (n - i) * sizeof(T));                                               \
        memcpy(wb, w + i, (n - i) * sizeof(float));                                           \
        memcpy(bb, b + i, (n - i) * sizeof(float));                                           \
        ST8(yb, _mm256_fmadd_ps(_mm256_loadu_ps(wb), tanh8(_mm256_mul_ps(va, LD8(xb))),       \
                                _mm256_loadu_ps(bb)));                                        \
        memcpy(y + i, yb, (n - i) * sizeof(T));                                               \
    }                                                                                         \
}                                                                                             \
static void fwd_plane_##NAME(const T *x, T *y, float a, float wc, float bc, i64 n) {           \
    const v8 va = SET1(a), vw = SET1(wc), vb = SET1(bc);                                      \
    i64 i = 0;                                                                                \
    for (; i + 8 <= n; i += 8)                                                                \
        ST8(y + i, _mm256_fmadd_ps(vw, tanh8(_mm256_mul_ps(va, LD8(x + i))), vb));            \
    if (i < n) {                                                                              \
        T xb[8] = {0}, yb[8];                                                                 \
        memcpy(xb, x + i, (n - i) * sizeof(T));                                               \
        ST8(yb, _mm256_fmadd_ps(vw, tanh8(_mm256_mul_ps(va, LD8(xb))), vb));                  \
        memcpy(y + i, yb, (n - i) * sizeof(T));                                               \
    }                                                                                         \
}                                                                                             \
/* one vector: dx = g (1 - t^2) a w stored; the sums' terms g t, g, g (1 - t^2) x returned */ \
static inline void bwd8_##NAME(const T *x, const T *g, T *dx, v8 va, v8 vaw, v8 *tw, v8 *tb,  \
                               v8 *ta) {                                                      \
    const v8 xv = LD8(x), gv = LD8(g);                                                        \
    const v8 t = tanh8(_mm256_mul_ps(va, xv));                                                \
    const v8 gs = _mm256_mul_ps(gv, _mm256_fnmadd_ps(t, t, SET1(1.0f)));                      \
    ST8(dx, _mm256_mul_ps(gs, vaw));                                                          \
    *tw = _mm256_mul_ps(gv, t);                                                               \
    *tb = gv;                                                                                 \
    *ta = _mm256_mul_ps(gs, xv);                                                              \
}                                                                                             \
static void bwd_chunk_##NAME(const T *x, const T *g, T *dx, float a, const float *aw,         \
                             float *sw, float *sb, float *sa, i64 rows, i64 C) {              \
    const v8 va = SET1(a);                                                                    \
    const i64 cv = C / 8 * 8;                                                                 \
    for (i64 r = 0; r < rows; r++) {                                                          \
        const T *xr = x + r * C, *gr = g + r * C;                                             \
        T *dxr = dx + r * C;                                                                  \
        v8 tw, tb, ta;                                                                        \
        for (i64 c = 0; c < cv; c += 8) {                                                     \
            bwd8_##NAME(xr + c, gr + c, dxr + c, va, _mm256_loadu_ps(aw + c), &tw, &tb, &ta); \
            _mm256_storeu_ps(sw + c, _mm256_add_ps(_mm256_loadu_ps(sw + c), tw));             \
            _mm256_storeu_ps(sb + c, _mm256_add_ps(_mm256_loadu_ps(sb + c), tb));             \
            _mm256_storeu_ps(sa + c, _mm256_add_ps(_mm256_loadu_ps(sa + c), ta));             \
        }                                                                                     \
        if (cv < C) { /* sw, sb, sa are padded: the tail's zero lanes add zeros */            \
            T xb[8] = {0}, gb[8] = {0}, db[8];                                                \
            float awb[8] = {0};                                                               \
            memcpy(xb, xr + cv, (C - cv) * sizeof(T));                                        \
            memcpy(gb, gr + cv, (C - cv) * sizeof(T));                                        \
            memcpy(awb, aw + cv, (C - cv) * sizeof(float));                                   \
            bwd8_##NAME(xb, gb, db, va, _mm256_loadu_ps(awb), &tw, &tb, &ta);                 \
            memcpy(dxr + cv, db, (C - cv) * sizeof(T));                                       \
            _mm256_storeu_ps(sw + cv, _mm256_add_ps(_mm256_loadu_ps(sw + cv), tw));           \
            _mm256_storeu_ps(sb + cv, _mm256_add_ps(_mm256_loadu_ps(sb + cv), tb));           \
            _mm256_storeu_ps(sa + cv, _mm256_add_ps(_mm256_loadu_ps(sa + cv), ta));           \
        }                                                                                     \
    }                                                                                         \
}                                                                                             \
static void bwd_plane_##NAME(const T *x, const T *g, T *dx, float a, float awc, float *out,   \
                             i64 S) {                                                         \
    const v8 va = SET1(a), vaw = SET1(awc);                                                   \
    v8 sw = _mm256_setzero_ps(), sb = sw, sa = sw, tw, tb, ta;                                \
    i64 i = 0;                                                                                \
    for (; i + 8 <= S; i += 8) {                                                              \
        bwd8_##NAME(x + i, g + i, dx + i, va, vaw, &tw, &tb, &ta);                            \
        sw = _mm256_add_ps(sw, tw);                                                           \
        sb = _mm256_add_ps(sb, tb);                                                           \
        sa = _mm256_add_ps(sa, ta);                                                           \
    }                                                                                         \
    if (i < S) {                                                                              \
        T xb[8] = {0}, gb[8] = {0}, db[8];                                                    \
        memcpy(xb, x + i, (S - i) * sizeof(T));                                               \
        memcpy(gb, g + i, (S - i) * sizeof(T));                                               \
        bwd8_##NAME(xb, gb, db, va, vaw, &tw, &tb, &ta);                                      \
        memcpy(dx + i, db, (S - i) * sizeof(T));                                              \
        sw = _mm256_add_ps(sw, tw);                                                           \
        sb = _mm256_add_ps(sb, tb);                                                           \
        sa = _mm256_add_ps(sa, ta);                                                           \
    }                                                                                         \
    float lw[8], lb[8], la[8];                                                                \
    _mm256_storeu_ps(lw, sw);                                                                 \
    _mm256_storeu_ps(lb, sb);                                                                 \
    _mm256_storeu_ps(la, sa);                                                                 \
    double ow = 0, ob = 0, oa = 0;                                                            \
    for (int k = 0; k < 8; k++) { ow += lw[k]; ob += lb[k]; oa += la[k]; }                    \
    out[0] = (float)ow;                                                                       \
    out[1] = (float)ob;                                                                       \
    out[2] = (float)oa;                                                                       \
}

DEFINE_AVX2(f32, float, ld8_f32, st8_f32)
DEFINE_AVX2(bf16, uint16_t, ld8_bf16, st8_bf16)
#else
#define DYT_SIMD 1
DEFINE_GENERIC(f32, float, float, ld_f32, st_f32, tanh_f32)
DEFINE_GENERIC(bf16, uint16_t, float, ld_bf16, st_bf16, tanh_f32)
#endif
DEFINE_GENERIC(f64, double, double, ld_f64, st_f64, tanh_f64)

/*
 * Entry points. x, y, g, dx: contiguous (rows, C) ["rows": channels last] or (N, C, S)
 * ["planes": channels first]; alpha: 1 value; w, b: C values, in the compute type P.
 * Backward: ws holds 3 * K * padded(C) + C (rows) or 3 * N * C (planes) P values, pa K values.
 * Determinism: K and the chunk bounds depend on the shape only; the partials are added
 * in chunk (or plane) order in double, whichever thread made them.
 */
#define DEFINE_ENTRIES(NAME, T, P)                                                            \
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
    const i64 per = (rows + K - 1) / K, Cp = padded(C);                                       \
    P *aw = ws + 3 * K * Cp; /* a w[c], so dx = g (1 - t^2) aw[c] */                         \
    for (i64 c = 0; c < C; c++) aw[c] = a * w[c];                                             \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                              \
    for (i64 k = 0; k < K; k++) {                                                             \
        P *sw = ws + k * Cp, *sb = ws + (K + k) * Cp, *sa = ws + (2 * K + k) * Cp;            \
        for (i64 c = 0; c < Cp; c++) { sw[c] = 0; sb[c] = 0; sa[c] = 0; }                     \
        const i64 r0 = min64(rows, k * per), r1 = min64(rows, (k + 1) * per);                 \
        bwd_chunk_##NAME(x + r0 * C, g + r0 * C, dx + r0 * C, a, aw, sw, sb, sa, r1 - r0, C); \
        double acc = 0; /* dalpha = sum_c w[c] sum_rows g (1 - t^2) x */                      \
        for (i64 c = 0; c < C; c++) acc += (double)w[c] * sa[c];                              \
        pa[k] = (P)acc;                                                                       \
    }                                                                                         \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                              \
    for (i64 c = 0; c < C; c++) {                                                             \
        double aw_ = 0, ab = 0;                                                               \
        for (i64 k = 0; k < K; k++) { aw_ += ws[k * Cp + c]; ab += ws[(K + k) * Cp + c]; }    \
        out_w[c] = (P)aw_;                                                                    \
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
        bwd_plane_##NAME(x + pl * S, g + pl * S, dx + pl * S, a, a * w[pl % C], ws + 3 * pl, S); \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                              \
    for (i64 c = 0; c < C; c++) {                                                             \
        double aw_ = 0, ab = 0;                                                               \
        for (i64 n = 0; n < N; n++) { aw_ += ws[3 * (n * C + c)]; ab += ws[3 * (n * C + c) + 1]; } \
        out_w[c] = (P)aw_;                                                                    \
        out_b[c] = (P)ab;                                                                     \
    }                                                                                         \
    double aa = 0;                                                                            \
    for (i64 pl = 0; pl < NC; pl++) aa += (double)w[pl % C] * ws[3 * pl + 2];                 \
    out_a[0] = (P)aa;                                                                         \
}

DEFINE_ENTRIES(f32, float, float)
DEFINE_ENTRIES(bf16, uint16_t, float)
DEFINE_ENTRIES(f64, double, double)

int dyt_simd_width(void) { return DYT_SIMD; }
int dyt_pad(void) { return PAD; }
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
_PAD = 16  # the C side's PAD: partial-sum rows are padded to it

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
    lib.dyt_simd_width.restype = lib.dyt_pad.restype = ctypes.c_int
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
    """How many row chunks the backward reduces: a function of the shape only (determinism)."""
    return max(1, min(_MAX_CHUNKS, rows // _MIN_CHUNK_ROWS))


def _padded(c: int) -> int:
    return -(-c // _PAD) * _PAD


def simd_width() -> int:
    """Floats per vector in the fp32/bf16 loops: 8 with AVX2+FMA, 1 (compiler's choice) else."""
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
