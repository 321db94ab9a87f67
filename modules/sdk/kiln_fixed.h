/*
 * kiln_fixed.h - fixed-point helpers for module authors: Q15 and Q31 multiply with rounding and saturation,
 * saturating add and subtract, conversions, RMS and peaks; the Q15 Hann window, the 1024-point Q15 FFT with
 * block floating point and the power spectrum are fft_q15.h's (included here), so C has one FFT.
 *
 * Integer arithmetic only (the float conversions aside, which are exact or rounded as documented): the same
 * input gives bit-identical results to the Rust (`kiln::fixed`) and AssemblyScript (`assembly/fixed.ts`)
 * helpers, which use the same names (camelCase in AssemblyScript); tests/sdk/fixed_test.ts runs the three
 * side by side. Formats and rounding rules: docs/fixed_point.md.
 *
 * Build: add kiln_fixed.c and fft_q15.c to the module's sources. Call fft_q15_setup() once (in kiln_init)
 * before fft_q15_window or fft_q15_1024: it fills their tables.
 *
 *   fft_q15_window(samples, q15_mean(samples, FFT_Q15_N), data);  // int16_t data[2 * FFT_Q15_N]
 *   int32_t exponent = fft_q15_1024(data);                        // true DFT = data * 2^exponent
 *   fft_q15_power(data, power);                                   // uint32_t power[FFT_Q15_N / 2]
 *   int32_t bin = spectrum_peak_bin(power, FFT_Q15_N / 2, 1);     // skip DC
 */
#ifndef KILN_FIXED_H
#define KILN_FIXED_H

#include <stdint.h>

#include "fft_q15.h"

/* Saturates x to Q15 [-32768, 32767]. */
static inline int16_t q15_sat(int32_t x) {
  return (int16_t)(x > INT16_MAX ? INT16_MAX : x < INT16_MIN ? INT16_MIN : x);
}

/* Saturates x to Q31 [-2^31, 2^31 - 1]. */
static inline int32_t q31_sat(int64_t x) {
  return (int32_t)(x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : x);
}

/* Q15 product: (a * b + 2^14) >> 15, i.e. a * b / 2^15 rounded half up (towards +infinity), then saturated;
 * only -32768 * -32768 saturates (to 32767). */
static inline int16_t q15_mul(int16_t a, int16_t b) { return q15_sat(((int32_t)a * b + (1 << 14)) >> 15); }

/* Q31 product: (a * b + 2^30) >> 31 in 64 bits, rounded half up, then saturated; only -2^31 * -2^31
 * saturates (to 2^31 - 1). */
static inline int32_t q31_mul(int32_t a, int32_t b) {
  return q31_sat(((int64_t)a * b + ((int64_t)1 << 30)) >> 31);
}

/* a + b and a - b saturated to Q15 and Q31. */
static inline int16_t q15_add(int16_t a, int16_t b) { return q15_sat((int32_t)a + b); }
static inline int16_t q15_sub(int16_t a, int16_t b) { return q15_sat((int32_t)a - b); }
static inline int32_t q31_add(int32_t a, int32_t b) { return q31_sat((int64_t)a + b); }
static inline int32_t q31_sub(int32_t a, int32_t b) { return q31_sat((int64_t)a - b); }

/* |x| as an int32_t, exact: q15_abs(-32768) is 32768. */
static inline int32_t q15_abs(int16_t x) { return x < 0 ? -(int32_t)x : x; }

/* Q31 to Q15: (x + 2^15) >> 16, rounded half up, saturated (2^31 - 1 gives 32767). */
static inline int16_t q15_from_q31(int32_t x) { return q15_sat((int32_t)(((int64_t)x + (1 << 15)) >> 16)); }

/* Q15 to Q31: x << 16, exact. */
static inline int32_t q31_from_q15(int16_t x) { return (int32_t)((uint32_t)(int32_t)x << 16); }

/* x (a real, 1.0 is full scale) to Q15: x * 2^15 rounded half away from zero, saturated to [-32768, 32767];
 * NaN gives 0. */
int16_t q15_from_f64(double x);

/* Q15 to a real: x / 2^15, exact. */
static inline double q15_to_f64(int16_t x) { return (double)x / 32768.0; }

/* x (a real, 1.0 is full scale) to Q31: x * 2^31 rounded half away from zero, saturated to
 * [-2^31, 2^31 - 1]; NaN gives 0. */
int32_t q31_from_f64(double x);

/* Q31 to a real: x / 2^31, exact. */
static inline double q31_to_f64(int32_t x) { return (double)x / 2147483648.0; }

/* floor(sqrt(x)), exact (bit-by-bit integer square root). */
uint32_t isqrt_u64(uint64_t x);

/* Mean of n Q15 samples rounded half away from zero ((sum + n / 2) / n on magnitudes, as features_dc in
 * spectral_features.c), exact; 0 when n <= 0. */
int32_t q15_mean(const int16_t *x, int32_t n);

/* Root mean square of n Q15 samples, floor(sqrt(sum(x^2) / n) + 1/2) (the exact root rounded half up,
 * computed with integers), in [0, 32768]; 0 when n <= 0. The mean is not removed. */
int32_t q15_rms(const int16_t *x, int32_t n);

/* Index of the sample with the largest |x| among n (the first one on ties), or -1 when n <= 0; its magnitude
 * is q15_abs(x[index]). */
int32_t q15_peak(const int16_t *x, int32_t n);

/* Index of the largest of n power values at or after bin `first` (1 skips DC; the first one on ties), or -1
 * when first >= n. Its frequency is bin * sample_rate / FFT_Q15_N. */
int32_t spectrum_peak_bin(const uint32_t *power, int32_t n, int32_t first);

#endif /* KILN_FIXED_H */
