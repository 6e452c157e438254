/* Float helpers shared by seqlab's C kernels: bf16 <-> fp32 and a vectorizable e^x. Plain arithmetic only
 * (no libm calls), so loops that use them vectorize under -O3 -march=native -fopenmp-simd. */
#ifndef SEQLAB_FLOATS_H
#define SEQLAB_FLOATS_H

#include <stdint.h>
#include <string.h>

typedef uint16_t bf16;

static inline bf16 f32_to_bf16(float f) { /* round to nearest even, as torch's .to(torch.bfloat16) */
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)((u >> 16) | 0x40u); /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16)(u >> 16);
}

static inline float bf16_to_f32(bf16 h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* e^x for x <= 88 (larger x is taken as 88), to about 2 ulp: e^x = 2^n e^r with n = round(x / ln 2), |r| <= ln 2 / 2, e^r by its
 * degree-7 polynomial (Cephes' expf coefficients). Plain arithmetic, so the compiler
 * vectorizes the loops that call it (libm's expf is a scalar call; floorf would need -fno-trapping-math). */
static inline float exp_poly(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x); /* not fminf/fmaxf: those are libm calls here */
    const float n = (x * 1.4426950408889634f + 12582912.0f) - 12582912.0f; /* round(x / ln 2): 1.5 2^23 */
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f; /* ln 2 split in two for exactness */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } s = {.i = ((int32_t)n + 127) << 23}; /* 2^n */
    return p * s.f;
}

#endif
