/*
 * spectral_features.h - the spectral features of a 1024-sample Q15 window that the anomaly detector's autoencoder
 * scores: the mean is removed, a Hann window applied, the Q15 FFT taken, and bins 2j and 2j+1 pooled into 256
 * log2 powers. The ONE implementation: the fft module computes them from its own spectrum and writes them to
 * a channel, the anomaly module (ae_kernel.c) from raw samples, and both must agree bit for bit, because
 * weights.bin was trained on them.
 *
 * Plain C99 with no libc and no ABI glue, like fft_q15.c: it builds for wasm32 and natively (gcc -O2
 * -ffp-contract=off), bit-identical on both.
 */
#ifndef KILN_SPECTRAL_FEATURES_H
#define KILN_SPECTRAL_FEATURES_H

#include <stdint.h>

#include "fft_q15.h"

/* Samples per window and features per window. */
#define FEATURES_WINDOW FFT_Q15_N
#define FEATURES_COUNT 256

/* The window's mean in Q15 counts, rounded half away from zero, in exact integer arithmetic (the same value
 * as rounding the double mean: sum / 1024 is exact in a double). */
int32_t features_dc(const int16_t *samples);

/* Removes features_dc, Hann-windows FEATURES_WINDOW samples into `work` (2 * FEATURES_WINDOW values), takes
 * the Q15 FFT in place and writes |X[k]|^2 of bins 0..FEATURES_WINDOW/2-1 into `power`. Returns the block
 * exponent e: the true power is power * 4^e. Calls fft_q15_setup itself. */
int32_t features_power(const int16_t *samples, int16_t *work, uint32_t *power);

/* The 256 features from features_power's output: feature j = log2(|X_2j|^2 + |X_2j+1|^2 + 1), |X| the DFT
 * in Q15 counts. */
void features_log_power(const uint32_t *power, int32_t exponent, float *features);

#endif /* KILN_SPECTRAL_FEATURES_H */
