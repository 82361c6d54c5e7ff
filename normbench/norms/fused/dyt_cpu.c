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
