/*
 * matmul_f32.c - an FP32 matrix multiplication C = A * B of MATMUL_N x MATMUL_N matrices, the compute.matmul_f32
 * case of bench/compute.ts. The same source is built for Wasm (clang-19 --target=wasm32 -O2 -msimd128) and
 * natively (gcc -O2 -ffp-contract=off, with matmul_main.c). i-k-j loop order: the inner loop runs along rows
 * of B and C, so both compilers vectorize it 4 floats wide, and each C[i][j] sums its products in the same
 * order (k ascending, no fused multiply-add) in both builds, so the results are bit-identical.
 */
#include <stdint.h>

#ifndef MATMUL_N
#define MATMUL_N 512
#endif

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(#name)))
#else
#define EXPORT(name)
#endif

static float a[MATMUL_N * MATMUL_N], b[MATMUL_N * MATMUL_N], c[MATMUL_N * MATMUL_N];

/* The matrix size N. */
EXPORT(matmul_size) int32_t matmul_size(void) { return MATMUL_N; }

/* Fills A and B with values in [-1, 1) from a xorshift32 generator seeded with `seed` (non-zero). */
EXPORT(matmul_fill) void matmul_fill(uint32_t seed) {
  uint32_t x = seed ? seed : 1;
  for (int32_t i = 0; i < MATMUL_N * MATMUL_N; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    a[i] = (float)(int32_t)(x >> 8) / 8388608.0f - 1.0f;
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    b[i] = (float)(int32_t)(x >> 8) / 8388608.0f - 1.0f;
  }
}

/* C = A * B. */
EXPORT(matmul_run) void matmul_run(void) {
  for (int32_t i = 0; i < MATMUL_N * MATMUL_N; i++) c[i] = 0;
  for (int32_t i = 0; i < MATMUL_N; i++) {
    float *ci = c + i * MATMUL_N;
    for (int32_t k = 0; k < MATMUL_N; k++) {
      float aik = a[i * MATMUL_N + k];
      const float *bk = b + k * MATMUL_N;
      for (int32_t j = 0; j < MATMUL_N; j++) ci[j] += aik * bk[j];
    }
  }
}

/* FNV-1a over the bits of C, to check that two builds computed the same matrix. */
EXPORT(matmul_checksum) uint32_t matmul_checksum(void) {
  uint32_t h = 2166136261u;
  for (int32_t i = 0; i < MATMUL_N * MATMUL_N; i++) {
    union {
      float f;
      uint32_t u;
    } v = {c[i]};
    h = (h ^ v.u) * 16777619u;
  }
  return h;
}
