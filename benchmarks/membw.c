/* Streaming read bandwidth: T threads each sum their contiguous share of one buffer with 64-byte loads (four
 * independent accumulators), as a decode step reads its weights. Built and run by membw.py.
 *
 *     membw MEBIBYTES THREADS REPEATS   ->  one line per repeat: "seconds"                                  */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

static size_t n_bytes;
static unsigned char *buf;
static int n_threads;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *reader(void *arg) {
    const size_t id = (size_t)(intptr_t)arg, lo = n_bytes * id / n_threads / 256 * 256,
                 hi = n_bytes * (id + 1) / n_threads / 256 * 256;
#if defined(__AVX512F__)
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = lo; i < hi; i += 256) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(buf + i));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(buf + i + 64));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(buf + i + 128));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(buf + i + 192));
    }
    const long long s = _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
#else
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = lo; i < hi; i += 32) {
        const uint64_t *p = (const uint64_t *)(buf + i);
        s0 += p[0], s1 += p[1], s2 += p[2], s3 += p[3];
    }
    const long long s = (long long)(s0 + s1 + s2 + s3);
#endif
    return (void *)(intptr_t)s; /* returned so the loads are not optimised away */
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: membw MEBIBYTES THREADS REPEATS\n");
        return 2;
    }
    n_bytes = (size_t)atol(argv[1]) << 20;
    n_threads = atoi(argv[2]);
    const int repeats = atoi(argv[3]);
    if (n_bytes == 0 || n_threads < 1 || n_threads > 256 || repeats < 1 || !(buf = aligned_alloc(64, n_bytes))) {
        fprintf(stderr, "membw: bad arguments or out of memory\n");
        return 2;
    }
    memset(buf, 1, n_bytes); /* touch every page before timing */
    for (int r = 0; r < repeats; r++) {
        pthread_t th[256];
        long long sum = 0;
        const double t0 = now_s();
        for (int i = 0; i < n_threads; i++) pthread_create(&th[i], NULL, reader, (void *)(intptr_t)i);
        for (int i = 0; i < n_threads; i++) {
            void *part;
            pthread_join(th[i], &part);
            sum += (long long)(intptr_t)part;
        }
        printf("%.9f %lld\n", now_s() - t0, sum);
    }
    free(buf);
    return 0;
}
