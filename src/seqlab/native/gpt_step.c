/* seqlab native decode step: one token per row through a GPT-2-layout decoder on the CPU (and, through
 * seqlab_gpt_rows, many positions at once: a prompt's prefill; through seqlab_gpt_greedy, many greedy steps in
 * one call, each picking its argmax in C, so no Python runs between the tokens).
 *
 * At batch 1 a token costs one read of every weight plus a few hundred small vector operations. Run as
 * ~80 PyTorch calls, the fixed cost of each call (dispatch, oneDNN primitive lookup) is larger than the
 * arithmetic; here the whole step is one C call. The matrices' weights are bf16, fp32 or int8; everything
 * else is fp32: activations, the residual stream, LayerNorm, softmax and the logits. The key/value cache is
 * fp32 (the layout PyTorch's forward fills) or bf16, read back into fp32 (half the bytes: with a long
 * context and a batch, reading the cache costs as much as reading the weights).
 *
 * Linear weights are packed by seqlab/native/gpt_step.py in blocks of output rows (padded: 32 for fp32, 64
 * for bf16 and int8), each block's slab read front to back for a group of activation rows (8 for fp32, 4
 * otherwise). bf16: [out/64][in/2][64][2] (inputs padded to an even count), so each 64-byte
 * load holds two inputs for 16 outputs, the operand layout of AVX512-BF16's VDPBF16PS (acc[j] += w[2j] x0 +
 * w[2j+1] x1); the inputs are rounded to bf16 for it. Without AVX512-BF16 a portable loop computes the same
 * sums. fp32: [out/32][in][32], one broadcast input times 32 rows at a time. int8: [out/64][in/4][64][4]
 * (inputs padded to a multiple of 4), one scale per output row (W ~ scale[o] W_q[o]) and each row's sum of
 * W_q; the inputs are quantized per row, symmetric, to int8 and offset by 128 to uint8, the operand layout
 * of AVX512-VNNI's VPDPBUSD (acc[j] += sum_k x[4q+k] w[4j+k] in int32, exact), then y = s_x scale[o]
 * (acc[o] - 128 wsum[o]). Integer sums are exact, so the portable loop gives the same bits.
 *
 * Shapes: C n_embd, nh heads, hs = C / nh, L cache slots, V vocabulary.
 */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "floats.h"

#if defined(__AVX512F__) && defined(__AVX512BF16__) && !defined(SEQLAB_PORTABLE)
#include <immintrin.h>
#define SEQLAB_DPBF16 1
#endif
#if defined(__AVX512F__) && defined(__AVX512VNNI__) && !defined(SEQLAB_PORTABLE)
#include <immintrin.h>
#define SEQLAB_VNNI 1
#endif

enum { W_BF16 = 0, W_FP32 = 1, W_INT8 = 2 };

typedef struct {
    const void *w;        /* packed, see above: bf16 [out/64][in/2][64][2], fp32 [out/32][in][32], int8 [out/64][in/4][64][4] */
    const float *b;       /* (out,) or NULL */
    const float *wscale;  /* int8 only: (out,) per-row scales */
    const int32_t *wsum;  /* int8 only: (out,) per-row sums of W_q */
    int32_t out, in, kind; /* kind: W_BF16 | W_FP32 | W_INT8 */
} sl_linear;

typedef struct {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b; /* (C,); biases may be NULL */
    sl_linear qkv, proj, fc, fc_proj;           /* C->3C, C->C, C->4C, 4C->C */
} sl_layer;

typedef struct {
    int32_t n_layer, n_embd, n_head, gelu_exact, n_positions;
    float eps;
    const float *wte, *wpe;     /* (V, C), (n_positions, C) */
    const float *lnf_w, *lnf_b; /* (C,) */
    sl_linear head;             /* C->V */
    const sl_layer *layers;     /* (n_layer,) */
} sl_model;

enum { OUT_STORE = 0, OUT_ADD = 1, OUT_GELU_TANH = 2, OUT_GELU_ERF = 3 };

int seqlab_has_dpbf16(void) {
#ifdef SEQLAB_DPBF16
    return 1;
#else
    return 0;
#endif
}

int seqlab_has_vnni(void) {
#ifdef SEQLAB_VNNI
    return 1;
#else
    return 0;
#endif
}

static inline float gelu_tanh(float x) { /* tanh(u) = 1 - 2 / (e^2u + 1) */
    const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x); /* sqrt(2 / pi) (x + 0.044715 x^3) */
    return 0.5f * x * (2.0f - 2.0f / (exp_poly(2.0f * u) + 1.0f));
}

static inline float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)); }

/* Output rows per block (gpt_step.py's BLOCK_F32, BLOCK) and activation rows sharing one read of a block,
 * 16 accumulator registers either way: fp32 takes 8 rows x 32 outputs (a batch of 8 reads its weights, the
 * largest, once); bf16 and int8 take 4 rows x 64 outputs (two passes at batch 8; with 32 outputs their
 * single rows were slower and their batches of 8 no faster, RESULTS #14). */
#define SL_ROWS 8
#define SL_BLOCK 32
#define SL_ROWS_64 4
#define SL_BLOCK_64 64

/* acc[r] (64) <- one block of 64 output rows of a bf16 weight times row r's inputs xb[r] (P pairs of bf16),
 * for the R <= SL_ROWS_64 rows given. Each row's sums run in the same order whatever R is. */
static inline __attribute__((always_inline)) void block_bf16(const bf16 *restrict w, const bf16 *const *xb,
                                                               int P, int R, float *const *acc) {
#ifdef SEQLAB_DPBF16
    __m512 a[SL_ROWS_64][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < 4; c++) a[r][c] = _mm512_setzero_ps();
    for (int p = 0; p < P; p++, w += 128) {
        const __m512bh w0 = (__m512bh)_mm512_loadu_si512(w), w1 = (__m512bh)_mm512_loadu_si512(w + 32),
                       w2 = (__m512bh)_mm512_loadu_si512(w + 64), w3 = (__m512bh)_mm512_loadu_si512(w + 96);
        for (int r = 0; r < R; r++) {
            const __m512bh xv = (__m512bh)_mm512_set1_epi32((int)((const uint32_t *)xb[r])[p]);
            a[r][0] = _mm512_dpbf16_ps(a[r][0], w0, xv);
            a[r][1] = _mm512_dpbf16_ps(a[r][1], w1, xv);
            a[r][2] = _mm512_dpbf16_ps(a[r][2], w2, xv);
            a[r][3] = _mm512_dpbf16_ps(a[r][3], w3, xv);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < 4; c++) _mm512_storeu_ps(acc[r] + 16 * c, a[r][c]);
#else
    for (int r = 0; r < R; r++)
        for (int o = 0; o < 64; o++) acc[r][o] = 0.0f;
    for (int p = 0; p < P; p++, w += 128)
        for (int r = 0; r < R; r++) {
            const float x0 = bf16_to_f32(xb[r][2 * p]), x1 = bf16_to_f32(xb[r][2 * p + 1]);
            float *restrict ar = acc[r];
            for (int o = 0; o < 64; o++) ar[o] += bf16_to_f32(w[2 * o]) * x0 + bf16_to_f32(w[2 * o + 1]) * x1;
        }
#endif
}

/* acc[r] (32) <- one block of 32 output rows of an fp32 weight times row r's inputs x[r] (n of them) */
static inline __attribute__((always_inline)) void block_f32(const float *restrict w, const float *const *x, int n,
                                                              int R, float *const *acc) {
    float a[SL_ROWS][SL_BLOCK];
    for (int r = 0; r < R; r++)
        for (int o = 0; o < SL_BLOCK; o++) a[r][o] = 0.0f;
    for (int i = 0; i < n; i++, w += SL_BLOCK)
        for (int r = 0; r < R; r++) {
            const float xi = x[r][i];
#pragma omp simd
            for (int o = 0; o < SL_BLOCK; o++) a[r][o] += w[o] * xi;
        }
    for (int r = 0; r < R; r++) memcpy(acc[r], a[r], sizeof a[r]);
}

/* acc[r] (64 int32) <- one block of 64 output rows of an int8 weight times row r's uint8 inputs xq[r] (Q
 * groups of 4), exact integer sums, for R <= SL_ROWS_64 rows. */
static inline __attribute__((always_inline)) void block_i8(const int8_t *restrict w, const uint8_t *const *xq,
                                                             int Q, int R, int32_t *const *acc) {
#ifdef SEQLAB_VNNI
    __m512i a[SL_ROWS_64][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < 4; c++) a[r][c] = _mm512_setzero_si512();
    for (int q = 0; q < Q; q++, w += 256) {
        const __m512i w0 = _mm512_loadu_si512(w), w1 = _mm512_loadu_si512(w + 64), w2 = _mm512_loadu_si512(w + 128),
                      w3 = _mm512_loadu_si512(w + 192);
        for (int r = 0; r < R; r++) {
            int32_t x4;
            memcpy(&x4, xq[r] + 4 * q, 4);
            const __m512i xv = _mm512_set1_epi32(x4);
            a[r][0] = _mm512_dpbusd_epi32(a[r][0], xv, w0);
            a[r][1] = _mm512_dpbusd_epi32(a[r][1], xv, w1);
            a[r][2] = _mm512_dpbusd_epi32(a[r][2], xv, w2);
            a[r][3] = _mm512_dpbusd_epi32(a[r][3], xv, w3);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < 4; c++) _mm512_storeu_si512(acc[r] + 16 * c, a[r][c]);
#else
    for (int r = 0; r < R; r++)
        for (int o = 0; o < 64; o++) acc[r][o] = 0;
    for (int q = 0; q < Q; q++, w += 256)
        for (int r = 0; r < R; r++) {
            const uint8_t *x4 = xq[r] + 4 * q;
            int32_t *restrict ar = acc[r];
            for (int o = 0; o < 64; o++)
                ar[o] += (int32_t)x4[0] * w[4 * o] + (int32_t)x4[1] * w[4 * o + 1] + (int32_t)x4[2] * w[4 * o + 2] +
                         (int32_t)x4[3] * w[4 * o + 3];
        }
#endif
}

/* One block for R rows, with R a constant after inlining (so the accumulators stay in registers). */
static void block_rows(const sl_linear *L, size_t ob, const float *const *x, const bf16 *const *xb, int R,
                       float *const *acc) {
    const int P = (L->in + 1) / 2;
    if (L->kind == W_INT8) { /* xb holds each row's uint8 inputs (Q groups of 4), then its scale (a float) */
        const int Q = (L->in + 3) / 4;
        const int8_t *w = (const int8_t *)L->w + ob * Q * 4 * SL_BLOCK_64;
        const uint8_t *xq[SL_ROWS];
        int32_t *ai[SL_ROWS];
        for (int r = 0; r < R; r++) {
            xq[r] = (const uint8_t *)xb[r];
            ai[r] = (int32_t *)acc[r];
        }
        switch (R) {
        case 1: block_i8(w, xq, Q, 1, ai); break;
        case 2: block_i8(w, xq, Q, 2, ai); break;
        case 3: block_i8(w, xq, Q, 3, ai); break;
        default: block_i8(w, xq, Q, 4, ai);
        }
        const int o0 = (int)ob * SL_BLOCK_64, rows = L->out - o0 < SL_BLOCK_64 ? L->out - o0 : SL_BLOCK_64;
        for (int r = 0; r < R; r++) {
            float sx;
            memcpy(&sx, xq[r] + 4 * Q, sizeof sx);
            for (int o = 0; o < SL_BLOCK_64; o++) {
                const int32_t v = ai[r][o];
                acc[r][o] = o < rows ? sx * L->wscale[o0 + o] * (float)(v - 128 * L->wsum[o0 + o]) : 0.0f;
            }
        }
        return;
    }
    if (L->kind == W_FP32) {
        const float *w = (const float *)L->w + ob * L->in * SL_BLOCK;
        switch (R) {
        case 1: block_f32(w, x, L->in, 1, acc); break;
        case 2: block_f32(w, x, L->in, 2, acc); break;
        case 3: block_f32(w, x, L->in, 3, acc); break;
        case 4: block_f32(w, x, L->in, 4, acc); break;
        case 5: block_f32(w, x, L->in, 5, acc); break;
        case 6: block_f32(w, x, L->in, 6, acc); break;
        case 7: block_f32(w, x, L->in, 7, acc); break;
        default: block_f32(w, x, L->in, 8, acc);
        }
    } else {
        const bf16 *w = (const bf16 *)L->w + ob * P * 2 * SL_BLOCK_64;
        switch (R) {
        case 1: block_bf16(w, xb, P, 1, acc); break;
        case 2: block_bf16(w, xb, P, 2, acc); break;
        case 3: block_bf16(w, xb, P, 3, acc); break;
        default: block_bf16(w, xb, P, 4, acc);
        }
    }
}

/* Y (B, out) <- epilogue(X Wᵀ + b) for the output blocks that are thread `id`'s of `n`; X (B, in) fp32;
 * xb scratch of B (in + 2) bf16 (X rounded to bf16, rows padded to an even length). */
static void linear(const sl_linear *L, const float *x, float *y, int mode, bf16 *xb, int B, int id, int n) {
    const int P = (L->in + 1) / 2, width = L->kind == W_FP32 ? SL_BLOCK : SL_BLOCK_64;
    const int group = L->kind == W_FP32 ? SL_ROWS : SL_ROWS_64, nb = (L->out + width - 1) / width;
    if (L->kind == W_INT8)
        for (int b = 0; b < B; b++) { /* row b: 4 Q uint8 (x / s rounded, + 128; padding 128 = 0), then s */
            uint8_t *xr = (uint8_t *)(xb + (size_t)b * 2 * P);
            const float *x_b = x + (size_t)b * L->in;
            const int Q = (L->in + 3) / 4;
            float amax = 0.0f;
#pragma omp simd reduction(max : amax)
            for (int i = 0; i < L->in; i++) {
                const float a = fabsf(x_b[i]);
                amax = a > amax ? a : amax;
            }
            const float s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s;
#pragma omp simd
            for (int i = 0; i < L->in; i++) { /* |x / s| <= 127: + 1.5 2^23 rounds to nearest even, as nearbyintf,
                                                  but vectorizes (nearbyintf would need -fno-trapping-math) */
                float q = (x_b[i] * inv + 12582912.0f) - 12582912.0f;
                q = q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q);
                xr[i] = (uint8_t)((int)q + 128);
            }
            for (int i = L->in; i < 4 * Q; i++) xr[i] = 128;
            memcpy(xr + 4 * Q, &s, sizeof s);
        }
    else if (L->kind == W_BF16)
        for (int b = 0; b < B; b++) {
            bf16 *xr = xb + (size_t)b * 2 * P;
            const float *x_b = x + (size_t)b * L->in;
            for (int i = 0; i < L->in; i++) xr[i] = f32_to_bf16(x_b[i]);
            if (L->in & 1) xr[L->in] = 0;
        }
    for (int ob = nb * id / n; ob < nb * (id + 1) / n; ob++) {
        for (int r0 = 0; r0 < B; r0 += group) {
            const int R = B - r0 < group ? B - r0 : group;
            float accs[SL_ROWS][SL_BLOCK_64]; /* room for either shape: R <= group rows of width outputs */
            const float *xs[SL_ROWS];
            const bf16 *xbs[SL_ROWS];
            float *as[SL_ROWS];
            for (int r = 0; r < R; r++) {
                xs[r] = x + (size_t)(r0 + r) * L->in;
                xbs[r] = xb + (size_t)(r0 + r) * 2 * P;
                as[r] = accs[r];
            }
            block_rows(L, (size_t)ob, xs, xbs, R, as);
            const int o0 = ob * width, rows = L->out - o0 < width ? L->out - o0 : width; /* the last block may be partial */
            for (int r = 0; r < R; r++) {
                float *restrict acc = accs[r], *restrict dst = y + (size_t)(r0 + r) * L->out + o0;
                if (L->b)
                    for (int o = 0; o < rows; o++) acc[o] += L->b[o0 + o];
                if (mode == OUT_ADD) {
#pragma omp simd
                    for (int o = 0; o < rows; o++) dst[o] += acc[o];
                } else if (mode == OUT_GELU_TANH) {
#pragma omp simd
                    for (int o = 0; o < rows; o++) dst[o] = gelu_tanh(acc[o]);
                } else if (mode == OUT_GELU_ERF) {
                    for (int o = 0; o < rows; o++) dst[o] = gelu_erf(acc[o]);
                } else {
                    for (int o = 0; o < rows; o++) dst[o] = acc[o];
                }
            }
        }
    }
}

static void layer_norm(const float *x, float *y, const float *w, const float *b, int n, float eps) {
    float mean = 0.0f, var = 0.0f;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= (float)n;
    for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    const float r = 1.0f / sqrtf(var / (float)n + eps);
    for (int i = 0; i < n; i++) y[i] = (x[i] - mean) * r * w[i] + (b ? b[i] : 0.0f);
}

/* Element i of a cache row: fp32, or bf16 when `bf` (the bf16 and int8 steps' cache: half the bytes to read,
 * the attention's main cost once the context grows). `bf` is a constant wherever this is inlined. */
static inline __attribute__((always_inline)) float kv_at(const void *restrict p, size_t i, int bf) {
    return bf ? bf16_to_f32(((const bf16 *)p)[i]) : ((const float *)p)[i];
}

/* cache row at element `at` <- src (n floats), rounded to bf16 when `bf` */
static inline __attribute__((always_inline)) void kv_store(void *cache, size_t at, const float *src, int n, int bf) {
    if (bf)
        for (int i = 0; i < n; i++) ((bf16 *)cache)[at + i] = f32_to_bf16(src[i]);
    else
        memcpy((float *)cache + at, src, (size_t)n * sizeof(float));
}

/* a . b over n floats (b a cache row, fp32 or bf16): 16 running lanes (element i in lane i % 16), then a
 * fixed tree over the lanes. (A reduction left to the compiler summed the lanes one at a time, from memory:
 * the decode step's hottest loop after the matrix products once the context grows.) */
static inline __attribute__((always_inline)) float dot(const float *restrict a, const void *restrict b, int n,
                                                       int bf) {
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
#pragma omp simd
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * kv_at(b, (size_t)(i + j), bf);
    for (int j = 0; i + j < n; j++) acc[j] += a[i + j] * kv_at(b, (size_t)(i + j), bf);
    for (int w = 8; w >= 1; w /= 2)
#pragma omp simd
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

/* sc (T) <- softmax(sc) in place */
static void softmax(float *restrict sc, int T) {
    float mx = -INFINITY, sum = 0.0f;
#pragma omp simd reduction(max : mx)
    for (int t = 0; t < T; t++) mx = sc[t] > mx ? sc[t] : mx;
#pragma omp simd reduction(+ : sum)
    for (int t = 0; t < T; t++) {
        sc[t] = exp_poly(sc[t] - mx);
        sum += sc[t];
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int t = 0; t < T; t++) sc[t] *= inv;
}

/* o (W) <- sum_t p[t] v[t][0..W) over t < T, v rows hs apart (fp32, or bf16 when `bf`); W <= 64, a constant
 * after inlining, so the sums stay in registers across t (an o[] in memory made every t wait for the
 * previous t's store). */
static inline __attribute__((always_inline)) void weighted_lanes(const float *restrict p, const void *restrict v,
                                                                   int T, int hs, int W, int bf, float *restrict o) {
    float acc[64] = {0};
    for (int t = 0; t < T; t++) {
        const float pt = p[t];
        const size_t row = (size_t)t * hs;
#pragma omp simd
        for (int j = 0; j < W; j++) acc[j] += pt * kv_at(v, row + j, bf);
    }
    memcpy(o, acc, (size_t)W * sizeof(float));
}

/* o (hs) <- sum_t p[t] v[t] over t < T, v (T, hs) fp32 or bf16 (`bf`); each o[j] summed in order of t from
 * 0, in chunks of 64 outputs, then 16, then one. */
static inline __attribute__((always_inline)) void weighted_sum(const float *restrict p, const void *restrict v,
                                                                 int T, int hs, int bf, float *restrict o) {
    const size_t esz = bf ? sizeof(bf16) : sizeof(float);
    int j0 = 0;
    for (; j0 + 64 <= hs; j0 += 64) weighted_lanes(p, (const char *)v + j0 * esz, T, hs, 64, bf, o + j0);
    for (; j0 + 16 <= hs; j0 += 16) weighted_lanes(p, (const char *)v + j0 * esz, T, hs, 16, bf, o + j0);
    for (; j0 < hs; j0++) weighted_lanes(p, (const char *)v + j0 * esz, T, hs, 1, bf, o + j0);
}

/* ---- threads: a persistent pool, so a step costs no thread creation ------------------------------------
 * Thread 0 is the caller. Work is split by output blocks and by (row, head) pairs, so every output is
 * computed by one thread in one fixed order: results do not depend on the thread count. Threads meet at a
 * barrier between phases (spinning briefly, then yielding the core: on a machine busier than its cores a
 * spinning thread would keep its descheduled peer waiting); between steps a worker spins for 0.2 ms (the
 * caller's Python loop usually comes back within that), then sleeps on a condition variable. */

#define SL_MAX_THREADS 64

typedef struct {
    const sl_model *m;
    const int64_t *tokens;
    const int32_t *pos, *start;
    int32_t B, slot, L, n;
    void *k, *v; /* the cache (n_layer, Bc, nh, L, hs): fp32, or bf16 when kv_bf16 */
    float *logits, *scratch;
    /* seqlab_gpt_rows only (NULL in a decode step): per row its slot and cache row (of Bc), and the rows
     * whose logits are wanted (n_emit of them, in order) */
    const int32_t *slots, *crow, *emit;
    int32_t Bc, n_emit, kv_bf16;
} sl_job;

static struct {
    pthread_mutex_t call, mu;
    pthread_cond_t cv;
    atomic_int generation, done, bar_count, bar_phase;
    int n_workers, born_at; /* born_at: the generation before the step that started the newest workers */
    sl_job job;
} pool = {.call = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void barrier(int n) {
    if (n == 1) return;
    const int phase = atomic_load(&pool.bar_phase);
    if (atomic_fetch_add(&pool.bar_count, 1) == n - 1) {
        atomic_store(&pool.bar_count, 0);
        atomic_fetch_add(&pool.bar_phase, 1);
    } else {
        for (unsigned spins = 1; atomic_load(&pool.bar_phase) == phase; spins++)
            if (spins > 256) sched_yield(); else cpu_relax(); /* a peer not running: give way */
    }
}

/* scratch: shared x (B C), qkv (B 3C), att (B C), f (B 4C); then per thread h (B C), sc (L), xb (B (4C + 2) bf16) */
int64_t seqlab_gpt_scratch_floats(int32_t B, int32_t C, int32_t L, int32_t n_threads) {
    return 9 * (int64_t)B * C + (int64_t)n_threads * ((int64_t)B * C + L + (int64_t)B * (2 * C + 1));
}

/* Layer l's attention for this thread's (row, head) pairs u0..u1 (u = b nh + head): each row's new key and
 * value go into the cache (fp32, or rounded to bf16 when `bf`), then att (B, C) <- softmax(q K^T / sqrt(hs)) V
 * over the row's slots start[b]..slot. A many-rows call (j->slots) writes every key and value before any row
 * attends, since rows may share a cache row. `bf` is a constant at each call. */
static inline __attribute__((always_inline)) void attend(const sl_job *j, int l, const float *qkv, float *att,
                                                         float *sc, int u0, int u1, int bf) {
    const sl_model *m = j->m;
    const int C = m->n_embd, nh = m->n_head, hs = C / nh, L = j->L;
    const float scale = 1.0f / sqrtf((float)hs);
    const size_t esz = bf ? sizeof(bf16) : sizeof(float);
    if (j->slots) {
        for (int u = u0; u < u1; u++) {
            const int b = u / nh, hd = u % nh;
            const size_t cache = (((size_t)l * j->Bc + j->crow[b]) * nh + hd) * L * hs + (size_t)j->slots[b] * hs;
            const float *row = qkv + (size_t)b * 3 * C;
            kv_store(j->k, cache, row + C + hd * hs, hs, bf);
            kv_store(j->v, cache, row + 2 * C + hd * hs, hs, bf);
        }
        barrier(j->n);
    }
    for (int u = u0; u < u1; u++) {
        const int b = u / nh, hd = u % nh, slot = j->slots ? j->slots[b] : j->slot, t0 = j->start[b];
        const int T = slot + 1 - t0;
        const size_t cache = (((size_t)l * j->Bc + (j->crow ? j->crow[b] : b)) * nh + hd) * L * hs; /* (n_layer, Bc, nh, L, hs) */
        const float *row = qkv + (size_t)b * 3 * C, *q = row + hd * hs;
        if (!j->slots) {
            kv_store(j->k, cache + (size_t)slot * hs, row + C + hd * hs, hs, bf);
            kv_store(j->v, cache + (size_t)slot * hs, row + 2 * C + hd * hs, hs, bf);
        }
        const char *Kh = (const char *)j->k + cache * esz, *Vh = (const char *)j->v + cache * esz;
        for (int t = 0; t < T; t++) sc[t] = dot(q, Kh + (size_t)(t0 + t) * hs * esz, hs, bf) * scale;
        softmax(sc, T);
        weighted_sum(sc, Vh + (size_t)t0 * hs * esz, T, hs, bf, att + (size_t)b * C + hd * hs);
    }
}

static void run(const sl_job *j, int id) {
    const sl_model *m = j->m;
    const int C = m->n_embd, nh = m->n_head, L = j->L, n = j->n, B = j->B;
    float *x = j->scratch, *qkv = x + (size_t)B * C, *att = qkv + (size_t)B * 3 * C, *f = att + (size_t)B * C;
    float *h = f + (size_t)B * 4 * C + (size_t)id * ((size_t)B * C + L + (size_t)B * (2 * C + 1)), *sc = h + (size_t)B * C;
    bf16 *xb = (bf16 *)(sc + L); /* B rows of 4 C + 2 bf16: the widest input of a linear, rounded to bf16 */
    if (id == 0)
        for (int b = 0; b < B; b++) {
            const float *e = m->wte + (size_t)j->tokens[b] * C, *p = m->wpe + (size_t)j->pos[b] * C;
            for (int i = 0; i < C; i++) x[(size_t)b * C + i] = e[i] + p[i];
        }
    barrier(n);
    for (int l = 0; l < m->n_layer; l++) {
        const sl_layer *ly = &m->layers[l];
        for (int b = 0; b < B; b++) /* every thread its own copy */
            layer_norm(x + (size_t)b * C, h + (size_t)b * C, ly->ln1_w, ly->ln1_b, C, m->eps);
        linear(&ly->qkv, h, qkv, OUT_STORE, xb, B, id, n);
        barrier(n);
        const int u0 = B * nh * id / n, u1 = B * nh * (id + 1) / n; /* this thread's (row, head) pairs */
        if (j->kv_bf16)
            attend(j, l, qkv, att, sc, u0, u1, 1);
        else
            attend(j, l, qkv, att, sc, u0, u1, 0);
        barrier(n);
        linear(&ly->proj, att, x, OUT_ADD, xb, B, id, n);
        barrier(n);
        for (int b = 0; b < B; b++)
            layer_norm(x + (size_t)b * C, h + (size_t)b * C, ly->ln2_w, ly->ln2_b, C, m->eps);
        linear(&ly->fc, h, f, m->gelu_exact ? OUT_GELU_ERF : OUT_GELU_TANH, xb, B, id, n);
        barrier(n);
        linear(&ly->fc_proj, f, x, OUT_ADD, xb, B, id, n);
        barrier(n);
    }
    const int E = j->slots ? j->n_emit : B; /* the rows whose logits are wanted: emit[..] or all */
    for (int e = 0; e < E; e++)
        layer_norm(x + (size_t)(j->slots ? j->emit[e] : e) * C, h + (size_t)e * C, m->lnf_w, m->lnf_b, C, m->eps);
    if (E > 0) linear(&m->head, h, j->logits, OUT_STORE, xb, E, id, n);
}

static void *worker(void *arg) {
    const int id = (int)(intptr_t)arg;
    int seen = pool.born_at; /* not the current generation: the step that started us may already be on */
    for (;;) {
        double t0 = now_s();
        for (unsigned spins = 1; atomic_load(&pool.generation) == seen; spins++) {
            cpu_relax();
            if (spins % 256 == 0 && now_s() - t0 > 2e-4) { /* idle: sleep until the next step */
                pthread_mutex_lock(&pool.mu);
                while (atomic_load(&pool.generation) == seen) pthread_cond_wait(&pool.cv, &pool.mu);
                pthread_mutex_unlock(&pool.mu);
            }
        }
        seen = atomic_load(&pool.generation);
        if (id < pool.job.n) run(&pool.job, id);
        atomic_fetch_add(&pool.done, 1);
    }
    return NULL;
}

static void after_fork_in_child(void) { /* the child has no workers; start afresh */
    pthread_mutex_init(&pool.call, NULL);
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.cv, NULL);
    pool.n_workers = 0;
}

/* Runs `job` on n_threads threads (the caller and pool workers); returns the number used. */
static int32_t dispatch(sl_job job, int32_t n_threads) {
    if (n_threads <= 1) {
        run(&job, 0);
        return 1;
    }
    pthread_mutex_lock(&pool.call);
    static int atfork_done = 0;
    if (!atfork_done) atfork_done = pthread_atfork(NULL, NULL, after_fork_in_child) == 0;
    if (n_threads > SL_MAX_THREADS) n_threads = SL_MAX_THREADS;
    pool.born_at = atomic_load(&pool.generation);
    while (pool.n_workers < n_threads - 1) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, (void *)(intptr_t)(pool.n_workers + 1)) != 0) break;
        pthread_detach(t);
        pool.n_workers++;
    }
    job.n = pool.n_workers + 1 < n_threads ? pool.n_workers + 1 : n_threads;
    pool.job = job;
    atomic_store(&pool.done, 0);
    pthread_mutex_lock(&pool.mu);
    atomic_fetch_add(&pool.generation, 1);
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    run(&pool.job, 0);
    for (unsigned spins = 1; atomic_load(&pool.done) < pool.n_workers; spins++)
        if (spins > 256) sched_yield(); else cpu_relax();
    pthread_mutex_unlock(&pool.call);
    return job.n;
}

/* One token for each of B rows. tokens (B,); pos (B,): each token's position (row of wpe); k, v: the cache
 * (n_layer, B, nh, L, hs), contiguous, fp32 or (kv_bf16 = 1) bf16; slot: where the tokens' keys and values
 * go; row b attends to slots start[b]..slot (start > 0: left padding). logits (B, V). scratch: at least
 * seqlab_gpt_scratch_floats(B, C, L, n_threads) floats. Returns the number of threads used (fewer than
 * asked if the system refused to start more), or -1 (and does nothing) if a token, a position or a slot is
 * out of range. */
int32_t seqlab_gpt_step(const sl_model *m, int32_t B, const int64_t *tokens, const int32_t *pos,
                        const int32_t *start, int32_t slot, int32_t L, void *k, void *v, int32_t kv_bf16,
                        float *logits, float *scratch, int32_t n_threads) {
    sl_job job = {m, tokens, pos, start, B, slot, L, 1, k, v, logits, scratch, NULL, NULL, NULL, B, 0, kv_bf16 != 0};
    if (slot < 0 || slot >= L) return -1;
    for (int b = 0; b < B; b++)
        if (tokens[b] < 0 || tokens[b] >= m->head.out || pos[b] < 0 || pos[b] >= m->n_positions || start[b] < 0 ||
            start[b] > slot)
            return -1;
    return dispatch(job, n_threads);
}

/* R tokens anywhere in a cache of Bc rows (the prompt's prefill, many positions at once): row r's token
 * tokens[r] at position pos[r] goes into slot slots[r] of cache row crow[r] and attends to that cache row's
 * slots start[r]..slots[r] (k, v: fp32, or bf16 with kv_bf16 = 1), which must already be filled or be
 * written by this call (the keys and values of all R rows are written before any row attends, layer by
 * layer). logits (n_emit, V): those of rows emit[0..n_emit) (n_emit may be 0). scratch: seqlab_gpt_scratch_floats(R, C, L, n_threads) floats.
 * Returns the number of threads used, or -1 (and does nothing) if an index is out of range. */
int32_t seqlab_gpt_rows(const sl_model *m, int32_t R, const int64_t *tokens, const int32_t *pos,
                        const int32_t *start, const int32_t *slots, const int32_t *crow, int32_t Bc, int32_t L,
                        void *k, void *v, int32_t kv_bf16, const int32_t *emit, int32_t n_emit, float *logits,
                        float *scratch, int32_t n_threads) {
    sl_job job = {m, tokens, pos, start, R, 0, L, 1, k, v, logits, scratch, slots, crow, emit, Bc, n_emit, kv_bf16 != 0};
    if (R < 1 || n_emit < 0 || n_emit > R) return -1;
    for (int r = 0; r < R; r++)
        if (tokens[r] < 0 || tokens[r] >= m->head.out || pos[r] < 0 || pos[r] >= m->n_positions || slots[r] < 0 ||
            slots[r] >= L || start[r] < 0 || start[r] > slots[r] || crow[r] < 0 || crow[r] >= Bc)
            return -1;
    for (int e = 0; e < n_emit; e++)
        if (emit[e] < 0 || emit[e] >= R) return -1;
    return dispatch(job, n_threads);
}

/* The index of row x's (n floats) largest value as numpy's argmax picks it: the first NaN if there is one,
 * else the first of the largest. */
static int64_t argmax_row(const float *restrict x, int n) {
    float top = -INFINITY;
    int nan = 0;
#pragma omp simd reduction(max : top) reduction(| : nan)
    for (int i = 0; i < n; i++) {
        top = x[i] > top ? x[i] : top;
        nan |= x[i] != x[i];
    }
    for (int i = 0; i < n; i++)
        if (nan ? x[i] != x[i] : x[i] == top) return i;
    return 0;
}

/* Up to n_steps greedy tokens in one call (no Python between them): step s feeds tokens (B,) at slot + s,
 * positions pos[b] + s, then out[s B + b] <- argmax of row b's logits, the next step's token. done (B,):
 * rows already finished (1); with eos >= 0 a row that emits eos is marked done, and the call returns once
 * every row is done. Finished rows keep stepping (the batch's shape is fixed); their tokens are the caller's
 * to ignore. logits (B, V): the last step's. step_s (n_steps,): each step's seconds. Returns the number of
 * steps run (>= 1), -1 (and does nothing) if a token, a position or a slot would be out of range, -2 if
 * memory ran out; the other arguments as seqlab_gpt_step's. */
int32_t seqlab_gpt_greedy(const sl_model *m, int32_t B, const int64_t *tokens, const int32_t *pos,
                          const int32_t *start, int32_t slot, int32_t L, void *k, void *v, int32_t kv_bf16,
                          int32_t n_steps, int64_t eos, int32_t *done, int64_t *out, float *logits, float *scratch,
                          int32_t n_threads, double *step_s) {
    if (B < 1 || n_steps < 1 || slot < 0 || slot + n_steps > L) return -1;
    for (int b = 0; b < B; b++)
        if (tokens[b] < 0 || tokens[b] >= m->head.out || pos[b] < 0 || pos[b] + n_steps > m->n_positions ||
            start[b] < 0 || start[b] > slot)
            return -1;
    int32_t *p = malloc((size_t)B * sizeof *p);
    int64_t *tok = malloc((size_t)B * sizeof *tok);
    if (!p || !tok) {
        free(p);
        free(tok);
        return -2;
    }
    const int V = m->head.out;
    for (int b = 0; b < B; b++) {
        p[b] = pos[b];
        tok[b] = tokens[b];
    }
    int s = 0;
    while (s < n_steps) {
        sl_job job = {m, tok, p, start, B, slot + s, L, 1, k, v, logits, scratch, NULL, NULL, NULL, B, 0, kv_bf16 != 0};
        const double t0 = now_s();
        dispatch(job, n_threads);
        int all_done = 1;
        for (int b = 0; b < B; b++) {
            tok[b] = out[(size_t)s * B + b] = argmax_row(logits + (size_t)b * V, V);
            if (eos >= 0 && tok[b] == eos) done[b] = 1;
            all_done &= done[b] != 0;
            p[b]++;
        }
        step_s[s++] = now_s() - t0;
        if (eos >= 0 && all_done) break;
    }
    free(p);
    free(tok);
    return s;
}
