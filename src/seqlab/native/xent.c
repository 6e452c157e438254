/* Label-smoothed cross-entropy over rows of logits (fp32 or bf16), forward and backward, in one pass each.
 *
 * For row i with logits x (V values), target y, smoothing eps:
 *   lse_i  = log sum_v exp x_v                       (max subtracted first)
 *   loss_i = lse_i - (1 - eps) x_y - eps mean_v x_v
 *   grad_v = w_i (exp(x_v - lse_i) - eps / V) - w_i (1 - eps) [v = y]
 * (seqlab/train/xent.py documents the math and holds the PyTorch path these equal.) The caller passes targets
 * in [0, V) (ignored rows with any such target) and weighs ignored rows 0: their gradient is zero. A target
 * outside [0, V) reads nothing (loss 0, zero gradient). Rows are split over ``threads`` threads, each row summed by one
 * thread in a fixed order, so the results are the same bits for any thread count.
 *
 * exp is floats.h's polynomial (about 2 ulp), so the loops vectorize; bf16 is read as the high half of an
 * fp32 and written rounded to nearest even (NaN stays NaN).
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "floats.h"

typedef struct {
    const void *x;
    int is_bf16;
    int64_t n, v, stride; /* rows, columns, elements between rows */
    const int64_t *target;
    float eps;
    float *lse, *loss;       /* forward outputs, (n,) */
    const float *w;          /* backward: per-row weight (n,) */
    void *grad;              /* backward output, same dtype as x, rows of v contiguous */
    int64_t row0, row1;
    float *buf;              /* one row in fp32 (bf16 input only) */
} Job;

static const float *row_f32(const Job *j, int64_t i, float *buf) {
    if (!j->is_bf16) return (const float *)j->x + i * j->stride;
    const bf16 *h = (const bf16 *)j->x + i * j->stride;
    int64_t V = j->v;
#pragma omp simd
    for (int64_t k = 0; k < V; k++) buf[k] = bf16_to_f32(h[k]);
    return buf;
}

static void *forward_rows(void *arg) {
    Job *j = (Job *)arg;
    int64_t V = j->v;
    for (int64_t i = j->row0; i < j->row1; i++) {
        int64_t y = j->target[i];
        const float *x = row_f32(j, i, j->buf);
        float mx = -INFINITY, sum_x = 0.0f;
#pragma omp simd reduction(max : mx) reduction(+ : sum_x)
        for (int64_t k = 0; k < V; k++) {
            mx = x[k] > mx ? x[k] : mx;
            sum_x += x[k];
        }
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t k = 0; k < V; k++) s += exp_poly(x[k] - mx);
        float lse = mx + logf(s);
        j->lse[i] = lse;
        if (y < 0 || y >= V) {
            j->loss[i] = 0.0f;
            continue;
        }
        j->loss[i] = lse - (1.0f - j->eps) * x[y] - j->eps * (sum_x / (float)V);
    }
    return NULL;
}

static void *backward_rows(void *arg) {
    Job *j = (Job *)arg;
    int64_t V = j->v;
    float floor_ = j->eps / (float)V;
    for (int64_t i = j->row0; i < j->row1; i++) {
        int64_t y = j->target[i];
        float w = j->w[i], lse = j->lse[i];
        int skip = (y < 0 || y >= V || w == 0.0f);
        if (j->is_bf16) {
            bf16 *g = (bf16 *)j->grad + i * V;
            if (skip) { memset(g, 0, (size_t)V * 2); continue; }
            const float *x = row_f32(j, i, j->buf);
#pragma omp simd
            for (int64_t k = 0; k < V; k++) g[k] = f32_to_bf16(w * (exp_poly(x[k] - lse) - floor_));
            g[y] = f32_to_bf16(w * (exp_poly(x[y] - lse) - floor_) - w * (1.0f - j->eps));
        } else {
            float *g = (float *)j->grad + i * V;
            if (skip) { memset(g, 0, (size_t)V * 4); continue; }
            const float *x = (const float *)j->x + i * j->stride;
#pragma omp simd
            for (int64_t k = 0; k < V; k++) g[k] = w * (exp_poly(x[k] - lse) - floor_);
            g[y] -= w * (1.0f - j->eps);
        }
    }
    return NULL;
}

#define XENT_MAX_THREADS 64

static int run(Job *base, int threads, void *(*fn)(void *), float *scratch) {
    if (threads < 1) threads = 1;
    if (threads > XENT_MAX_THREADS) threads = XENT_MAX_THREADS;
    if (threads > base->n) threads = (int)(base->n > 0 ? base->n : 1);
    Job jobs[XENT_MAX_THREADS];
    pthread_t tid[XENT_MAX_THREADS];
    int started[XENT_MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++) {
        jobs[t] = *base;
        jobs[t].row0 = base->n * t / threads;
        jobs[t].row1 = base->n * (t + 1) / threads;
        jobs[t].buf = scratch + (int64_t)t * base->v;
    }
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, fn, &jobs[t]) == 0;
    fn(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else fn(&jobs[t]); /* could not start a thread: do its rows here */
    }
    return threads;
}

/* scratch: threads * v floats (used for bf16 rows). Returns the threads used. */
int seqlab_xent_forward(const void *x, int is_bf16, int64_t n, int64_t v, int64_t stride, const int64_t *target,
                        float eps, float *lse, float *loss, float *scratch, int threads) {
    Job j = {x, is_bf16, n, v, stride, target, eps, lse, loss, NULL, NULL, 0, n, NULL};
    return run(&j, threads, forward_rows, scratch);
}

int seqlab_xent_backward(const void *x, int is_bf16, int64_t n, int64_t v, int64_t stride, const int64_t *target,
                         float eps, const float *lse, const float *w, void *grad, float *scratch,
                         int threads) {
    Job j = {x, is_bf16, n, v, stride, target, eps, (float *)lse, NULL, w, grad, 0, n, NULL};
    return run(&j, threads, backward_rows, scratch);
}
