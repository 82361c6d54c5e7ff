#include <math.h>
#include <stdint.h>
#include <string.h>

typedef int64_t i64;

/* per-chunk partial sums are PAD-aligned rows, so vector tails add zeros, never garbage */
#define PAD 16
static inline i64 padded(i64 c) { return (c + PAD - 1) / PAD * PAD; }
static inline i64 min64(i64 a, i64 b) { return a < b ? a : b; }

/* Rows are reduced in at most MAX_CHUNKS chunks of at least MIN_CHUNK_ROWS rows: enough chunks to
 * feed 16+ threads, few enough that the partials are < 1 % of the traffic. A function of the shape
 * only (determinism); every caller (cpu.py, dyt_cpu_autograd.cpp) asks dyt_num_chunks. */
#define MAX_CHUNKS 64
#define MIN_CHUNK_ROWS 8
i64 dyt_num_chunks(i64 rows) {
    const i64 k = rows / MIN_CHUNK_ROWS;
    return k < 1 ? 1 : (k > MAX_CHUNKS ? MAX_CHUNKS : k);
}

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

/* ---- SIMD spans for fp32 and bf16: AVX-512 (16 lanes) or AVX2 + FMA (8 lanes) ------------ */
/* One kernel body (DEFINE_SIMD) over a small vector vocabulary, mapped to AVX-512 where the
 * compiler targets it (-march=native on such a machine) and to AVX2 + FMA (x86-64 since 2013)
 * otherwise. On an AVX-512 machine the 16-lane loops halve the FMAs and divisions of tanh, which
 * is what the kernels spend their time on (issue 27); NORMBENCH_FUSED_CPU_ISA=avx2 (cpu.py)
 * builds the 8-lane loops there too, for the AVX2 figure. VW <= PAD, so a tail's padded lanes
 * stay inside the padded partial sums. */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__FMA__)
#include <immintrin.h>
#define VW 16
typedef __m512 vf;
#define V_SET1 _mm512_set1_ps
#define V_ZERO _mm512_setzero_ps
#define V_LOAD _mm512_loadu_ps
#define V_STORE _mm512_storeu_ps
#define V_ADD _mm512_add_ps
#define V_MUL _mm512_mul_ps
#define V_DIV _mm512_div_ps
#define V_MIN _mm512_min_ps
#define V_MAX _mm512_max_ps
#define V_FMADD _mm512_fmadd_ps
#define V_FNMADD _mm512_fnmadd_ps
static inline vf ldv_bf16(const uint16_t *p) {
    const __m256i h = _mm256_loadu_si256((const __m256i *)p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
static inline void stv_bf16(uint16_t *p, vf v) { /* round to nearest even, NaN kept quiet: st_bf16's rule */
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), lsb), 16);
    const __m512i qnan = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    const __mmask16 isnan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(isnan, r, qnan)));
}
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define VW 8
typedef __m256 vf;
#define V_SET1 _mm256_set1_ps
#define V_ZERO _mm256_setzero_ps
#define V_LOAD _mm256_loadu_ps
#define V_STORE _mm256_storeu_ps
#define V_ADD _mm256_add_ps
#define V_MUL _mm256_mul_ps
#define V_DIV _mm256_div_ps
#define V_MIN _mm256_min_ps
#define V_MAX _mm256_max_ps
#define V_FMADD _mm256_fmadd_ps
#define V_FNMADD _mm256_fnmadd_ps
static inline vf ldv_bf16(const uint16_t *p) {
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
static inline void stv_bf16(uint16_t *p, vf v) {
    const __m256i u = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), lsb), 16);
    const __m256i qnan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    const __m256i isnan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    r = _mm256_blendv_epi8(r, qnan, isnan);
    _mm_storeu_si128((__m128i *)p, _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
}
#endif

#ifdef VW
#define DYT_SIMD VW

/* tanh of VW floats, the same function as tanh_f32. min/max return their second operand
 * when one is NaN: a NaN z gives a NaN t. A true division: the divider runs beside the
 * FMA units, which the polynomials keep busy (rcp + a Newton step was 7-8 % slower on AVX2). */
static inline vf tanhv(vf z) {
    z = V_MAX(V_SET1(-TANH_ZMAX), V_MIN(V_SET1(TANH_ZMAX), z));
    const vf u = V_MUL(z, z);
    vf p = V_FMADD(u, V_SET1(TANH_P3), V_SET1(TANH_P2));
    p = V_FMADD(p, u, V_SET1(TANH_P1));
    p = V_MUL(V_FMADD(p, u, V_SET1(TANH_P0)), z);
    vf q = V_FMADD(u, V_SET1(TANH_Q4), V_SET1(TANH_Q3));
    q = V_FMADD(q, u, V_SET1(TANH_Q2));
    q = V_FMADD(q, u, V_SET1(TANH_Q1));
    q = V_FMADD(q, u, V_SET1(1.0f));
    return V_MAX(V_SET1(-1.0f), V_MIN(V_SET1(1.0f), V_DIV(p, q)));
}

static inline vf ldv_f32(const float *p) { return V_LOAD(p); }
static inline void stv_f32(float *p, vf v) { V_STORE(p, v); }

/* A tail of n < VW values goes through zero-padded buffers: the same vector code, so every
 * element gets the same arithmetic, and the padding adds exact zeros to the sums. */
#define DEFINE_SIMD(NAME, T, LDV, STV)                                                         \
static void fwd_span_##NAME(const T *x, T *y, float a, const float *w, const float *b,         \
                            i64 n) {                                                           \
    const vf va = V_SET1(a);                                                                   \
    i64 i = 0;                                                                                 \
    for (; i + VW <= n; i += VW)                                                               \
        STV(y + i, V_FMADD(V_LOAD(w + i),                                                      \
                                   tanhv(V_MUL(va, LDV(x + i))), V_LOAD(b + i)));              \
    if (i < n) {                                                                               \
        T xb[VW] = {0}, yb[VW];                                                                \
        float wb[VW] = {0}, bb[VW] = {0};                                                      \
        memcpy(xb, x + i, (n - i) * sizeof(T));                                                \
        memcpy(wb, w + i, (n - i) * sizeof(float));                                            \
        memcpy(bb, b + i, (n - i) * sizeof(float));                                            \
        STV(yb, V_FMADD(V_LOAD(wb), tanhv(V_MUL(va, LDV(xb))),                                 \
                                V_LOAD(bb)));                                                  \
        memcpy(y + i, yb, (n - i) * sizeof(T));                                                \
    }                                                                                          \
}                                                                                              \
static void fwd_plane_##NAME(const T *x, T *y, float a, float wc, float bc, i64 n) {           \
    const vf va = V_SET1(a), vw = V_SET1(wc), vb = V_SET1(bc);                                 \
    i64 i = 0;                                                                                 \
    for (; i + VW <= n; i += VW)                                                               \
        STV(y + i, V_FMADD(vw, tanhv(V_MUL(va, LDV(x + i))), vb));                             \
    if (i < n) {                                                                               \
        T xb[VW] = {0}, yb[VW];                                                                \
        memcpy(xb, x + i, (n - i) * sizeof(T));                                                \
        STV(yb, V_FMADD(vw, tanhv(V_MUL(va, LDV(xb))), vb));                                   \
        memcpy(y + i, yb, (n - i) * sizeof(T));                                                \
    }                                                                                          \
}                                                                                              \
/* one vector: dx = g (1 - t^2) a w stored; the sums' terms g t, g, g (1 - t^2) x returned */  \
static inline void bwdv_##NAME(const T *x, const T *g, T *dx, vf va, vf vaw, vf *tw, vf *tb,   \
                               vf *ta) {                                                       \
    const vf xv = LDV(x), gv = LDV(g);                                                         \
    const vf t = tanhv(V_MUL(va, xv));                                                         \
    const vf gs = V_MUL(gv, V_FNMADD(t, t, V_SET1(1.0f)));                                     \
    STV(dx, V_MUL(gs, vaw));                                                                   \
    *tw = V_MUL(gv, t);                                                                        \
    *tb = gv;                                                                                  \
    *ta = V_MUL(gs, xv);                                                                       \
}                                                                                              \
static void bwd_chunk_##NAME(const T *x, const T *g, T *dx, float a, const float *aw,          \
                             float *sw, float *sb, float *sa, i64 rows, i64 C) {               \
    const vf va = V_SET1(a);                                                                   \
    const i64 cv = C / VW * VW;                                                                \
    for (i64 r = 0; r < rows; r++) {                                                           \
        const T *xr = x + r * C, *gr = g + r * C;                                              \
        T *dxr = dx + r * C;                                                                   \
        vf tw, tb, ta;                                                                         \
        for (i64 c = 0; c < cv; c += VW) {                                                     \
            bwdv_##NAME(xr + c, gr + c, dxr + c, va, V_LOAD(aw + c), &tw, &tb, &ta);           \
            V_STORE(sw + c, V_ADD(V_LOAD(sw + c), tw));                                        \
            V_STORE(sb + c, V_ADD(V_LOAD(sb + c), tb));                                        \
            V_STORE(sa + c, V_ADD(V_LOAD(sa + c), ta));                                        \
        }                                                                                      \
        if (cv < C) { /* sw, sb, sa are padded: the tail's zero lanes add zeros */             \
            T xb[VW] = {0}, gb[VW] = {0}, db[VW];                                              \
            float awb[VW] = {0};                                                               \
            memcpy(xb, xr + cv, (C - cv) * sizeof(T));                                         \
            memcpy(gb, gr + cv, (C - cv) * sizeof(T));                                         \
            memcpy(awb, aw + cv, (C - cv) * sizeof(float));                                    \
            bwdv_##NAME(xb, gb, db, va, V_LOAD(awb), &tw, &tb, &ta);                           \
            memcpy(dxr + cv, db, (C - cv) * sizeof(T));                                        \
            V_STORE(sw + cv, V_ADD(V_LOAD(sw + cv), tw));                                      \
            V_STORE(sb + cv, V_ADD(V_LOAD(sb + cv), tb));                                      \
            V_STORE(sa + cv, V_ADD(V_LOAD(sa + cv), ta));                                      \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
static void bwd_plane_##NAME(const T *x, const T *g, T *dx, float a, float awc, float *out,    \
                             i64 S) {                                                          \
    const vf va = V_SET1(a), vaw = V_SET1(awc);                                                \
    vf sw = V_ZERO(), sb = sw, sa = sw, tw, tb, ta;                                            \
    i64 i = 0;                                                                                 \
    for (; i + VW <= S; i += VW) {                                                             \
        bwdv_##NAME(x + i, g + i, dx + i, va, vaw, &tw, &tb, &ta);                             \
        sw = V_ADD(sw, tw);                                                                    \
        sb = V_ADD(sb, tb);                                                                    \
        sa = V_ADD(sa, ta);                                                                    \
    }                                                                                          \
    if (i < S) {                                                                               \
        T xb[VW] = {0}, gb[VW] = {0}, db[VW];                                                  \
        memcpy(xb, x + i, (S - i) * sizeof(T));                                                \
        memcpy(gb, g + i, (S - i) * sizeof(T));                                                \
        bwdv_##NAME(xb, gb, db, va, vaw, &tw, &tb, &ta);                                       \
        memcpy(dx + i, db, (S - i) * sizeof(T));                                               \
        sw = V_ADD(sw, tw);                                                                    \
        sb = V_ADD(sb, tb);                                                                    \
        sa = V_ADD(sa, ta);                                                                    \
    }                                                                                          \
    float lw[VW], lb[VW], la[VW];                                                              \
    V_STORE(lw, sw);                                                                           \
    V_STORE(lb, sb);                                                                           \
    V_STORE(la, sa);                                                                           \
    double ow = 0, ob = 0, oa = 0;                                                             \
    for (int k = 0; k < VW; k++) { ow += lw[k]; ob += lb[k]; oa += la[k]; }                    \
    out[0] = (float)ow;                                                                        \
    out[1] = (float)ob;                                                                        \
    out[2] = (float)oa;                                                                        \
}

DEFINE_SIMD(f32, float, ldv_f32, stv_f32)
DEFINE_SIMD(bf16, uint16_t, ldv_bf16, stv_bf16)
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
