/*
 * fft_q15.h - a 1024-point radix-2 fixed-point FFT with block floating point, and a Q15 Hann window.
 *
 * Plain C99 with no libc and no ABI glue: the same source builds for wasm32 (modules) and natively with
 * gcc -O2 (the wasm-vs-native benchmark). Results are bit-identical on both: integer arithmetic only.
 */
#ifndef KILN_FFT_Q15_H
#define KILN_FFT_Q15_H

#include <stdint.h>

#define FFT_Q15_N 1024
#define FFT_Q15_LOG2N 10

/* Builds the twiddle and window tables; idempotent, cheap (call it from kiln_init or before a benchmark). */
void fft_q15_setup(void);

/* Subtracts `dc` from FFT_Q15_N real Q15 samples and Hann-windows them into interleaved complex `data`
 * (re, im = 0; 2 * N values), clamped to +-32767. Removing the mean first keeps the window's DC leakage out
 * of bin 1, where a slow shaft's 1x line sits (29.5 Hz is bin 1.2 at 25.6 kHz). */
void fft_q15_window(const int16_t *samples, int32_t dc, int16_t *data);

/*
 * In-place forward FFT of FFT_Q15_N interleaved complex Q15 values (re0, im0, re1, im1, ...), natural order in
 * and out. Block floating point: before each of the 10 stages the block is shifted right by the fewest bits
 * (0-2) that rule out overflow, so small signals keep their precision. Returns the block exponent e:
 * the true DFT is data * 2^e (0 <= e <= 20; a stage that never grows costs nothing).
 */
int32_t fft_q15_1024(int16_t *data);

/* |X[k]|^2 of bins 0..N/2-1 into `power` (in units of the block, i.e. times 4^e for the true DFT). */
void fft_q15_power(const int16_t *data, uint32_t *power);

#endif /* KILN_FFT_Q15_H */
