/*
 * ae_kernel.h - the anomaly detector's kernel: spectral features of a 1024-sample window and an int8
 * autoencoder's reconstruction error. Plain C99 without libc or ABI glue, so the same source builds for
 * wasm32 (with SIMD128 dot products under __wasm_simd128__) and natively with gcc -O2 -ffp-contract=off.
 *
 * Weights blob ("weights.bin", all little-endian; modules/README.md has the same table):
 *   off  size         field
 *   0    4            magic "KAE1"
 *   4    2   u16      version, 1
 *   6    2   u16      n_in, 256 (= AE_FEATURES)
 *   8    2   u16      n_hidden, 1..AE_MAX_HIDDEN
 *   10   2   u16      reserved, 0
 *   12   4   f32      x_scale:  x_q = clamp(round(((f - mean) * inv_std) / x_scale), +-127)
 *   16   4   f32      w1_scale: encoder weight = w1 * w1_scale
 *   20   4   f32      h_scale:  h_q = clamp(round(acc1 * x_scale * w1_scale / h_scale), +-127)
 *   24   4   f32      w2_scale: decoder weight = w2 * w2_scale
 *   28   4   f32      threshold suggested by training (the module's default for param "threshold")
 *   32   4*n_in f32   mean[n_in]     feature means on healthy data
 *   ..   4*n_in f32   inv_std[n_in]  1 / feature standard deviations
 *   ..   n_hidden*n_in  i8   w1[n_hidden][n_in]  encoder, row-major
 *   ..   n_in*n_hidden  i8   w2[n_in][n_hidden]  decoder, row-major
 *   ..   4*n_hidden i32  b1[n_hidden]   encoder bias in accumulator units (x_scale * w1_scale)
 *   ..   4*n_in     i32  b2[n_in]       decoder bias in accumulator units (h_scale * w2_scale)
 *
 * The network is linear (no ReLU): acc1 = b1 + w1 . x_q (int32), h_q = requantize(acc1),
 * acc2 = b2 + w2 . h_q (int32), x_hat = acc2 * h_scale * w2_scale. Linear is enough: a linear autoencoder's
 * optimum is the principal subspace, which is what modules/anomaly/train.ts fits. The score is the mean
 * squared reconstruction error, sum((x_hat - x_q * x_scale)^2) / n_in, in units of healthy variance.
 */
#ifndef KILN_AE_KERNEL_H
#define KILN_AE_KERNEL_H

#include <stdint.h>

#define AE_WINDOW 1024
#define AE_FEATURES 256
#define AE_MAX_HIDDEN 64
#define AE_HEADER_BYTES 32

/* ae_load results. */
#define AE_OK 0
#define AE_ERR_MAGIC 1   /* not a KAE1 blob */
#define AE_ERR_VERSION 2 /* unsupported version */
#define AE_ERR_DIMS 3    /* n_in is not AE_FEATURES or n_hidden is out of range */
#define AE_ERR_SIZE 4    /* the length does not match the dimensions */
#define AE_ERR_SCALE 5   /* a scale is not a positive finite number */

typedef struct ae_model {
  int32_t n_hidden;
  float x_scale, w1_scale, h_scale, w2_scale, threshold;
  float mean[AE_FEATURES];
  float inv_std[AE_FEATURES];
  const int8_t *w1; /* points into the blob, which must outlive the model */
  const int8_t *w2;
  int32_t b1[AE_MAX_HIDDEN];
  int32_t b2[AE_FEATURES];
} ae_model_t;

/* The blob size for `n_hidden` hidden units. */
int32_t ae_blob_size(int32_t n_hidden);

/* Parses and checks a weights blob; AE_OK or an AE_ERR_* code. */
int32_t ae_load(ae_model_t *model, const uint8_t *blob, int32_t len);

/* 256 features of a 1024-sample Q15 window: the mean is removed, a Hann window applied, the Q15 FFT taken,
 * and bins 2j and 2j+1 pooled: feature j = log2(|X_2j|^2 + |X_2j+1|^2 + 1), |X| the DFT in Q15 counts.
 * Computed by sdk/spectral_features.c, which the fft module shares, so its channel records are these same bits. */
void ae_features(const int16_t *samples, float *features);

/* The reconstruction error of `features` (see above). */
float ae_score(const ae_model_t *model, const float *features);

#endif /* KILN_AE_KERNEL_H */
