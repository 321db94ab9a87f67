/*
 * fft_q15.c - see fft_q15.h. Decimation in time: bit-reversal permutation, then log2 N butterfly stages.
 */
#include "fft_q15.h"

#include "kmath.h"

/* W^k = exp(-2 pi i k / N) for k < N/2, Q15 (cos, -sin) pairs rounded from double. */
static int16_t twiddle[FFT_Q15_N];
/* Periodic Hann window, Q15: 0.5 - 0.5 cos(2 pi n / N). */
static int16_t hann[FFT_Q15_N];
static uint16_t bitrev[FFT_Q15_N];
static int ready = 0;

static int16_t q15(double v) {
  double r = v * 32767.0;
  int32_t i = (int32_t)(r < 0 ? r - 0.5 : r + 0.5);
  return (int16_t)(i > 32767 ? 32767 : i < -32767 ? -32767 : i);
}

void fft_q15_setup(void) {
  if (ready) return;
  for (int32_t k = 0; k < FFT_Q15_N / 2; k++) {
    double a = 2 * KMATH_PI * (double)k / FFT_Q15_N;
    twiddle[2 * k] = q15(kmath_cos(a));
    twiddle[2 * k + 1] = q15(-kmath_sin(a));
  }
  for (int32_t n = 0; n < FFT_Q15_N; n++) {
    hann[n] = q15(0.5 - 0.5 * kmath_cos(2 * KMATH_PI * (double)n / FFT_Q15_N));
    uint32_t r = 0;
    for (int32_t b = 0; b < FFT_Q15_LOG2N; b++) r |= (uint32_t)((n >> b) & 1) << (FFT_Q15_LOG2N - 1 - b);
    bitrev[n] = (uint16_t)r;
  }
  ready = 1;
}

void fft_q15_window(const int16_t *samples, int32_t dc, int16_t *data) {
  for (int32_t n = 0; n < FFT_Q15_N; n++) {
    int32_t x = (int32_t)samples[n] - dc; /* |x| <= 65535, so x * hann fits in int32 */
    int32_t v = (x * hann[n] + (1 << 14)) >> 15;
    data[2 * n] = (int16_t)(v > 32767 ? 32767 : v < -32767 ? -32767 : v);
    data[2 * n + 1] = 0;
  }
}

/* The shift (0-2) that keeps this stage's outputs in int16: a radix-2 butterfly grows a component by at
 * most 1 + sqrt(2) = 2.414, and 13500 + 1.4143 * 13500 + 1 (twiddle rounding) < 32767. */
static int32_t stage_shift(const int16_t *data) {
  int32_t max = 0;
  for (int32_t i = 0; i < 2 * FFT_Q15_N; i++) {
    int32_t v = data[i];
    v = v < 0 ? -v : v;
    max = v > max ? v : max;
  }
  return max < 13500 ? 0 : max < 2 * 13500 ? 1 : 2;
}

int32_t fft_q15_1024(int16_t *data) {
  int32_t exponent = 0;
  for (int32_t i = 0; i < FFT_Q15_N; i++) {
    int32_t j = bitrev[i];
    if (j > i) {
      int16_t re = data[2 * i], im = data[2 * i + 1];
      data[2 * i] = data[2 * j];
      data[2 * i + 1] = data[2 * j + 1];
      data[2 * j] = re;
      data[2 * j + 1] = im;
    }
  }
  for (int32_t half = 1, tstep = FFT_Q15_N / 2; half < FFT_Q15_N; half *= 2, tstep /= 2) {
    int32_t shift = stage_shift(data);
    int32_t round = shift ? 1 << (shift - 1) : 0;
    exponent += shift;
    for (int32_t start = 0; start < FFT_Q15_N; start += 2 * half) {
      for (int32_t k = 0; k < half; k++) {
        int32_t a = 2 * (start + k), b = a + 2 * half;
        int32_t wr = twiddle[2 * k * tstep], wi = twiddle[2 * k * tstep + 1];
        int32_t br = data[b], bi = data[b + 1];
        int32_t tr = (br * wr - bi * wi + (1 << 14)) >> 15;
        int32_t ti = (br * wi + bi * wr + (1 << 14)) >> 15;
        int32_t ar = data[a], ai = data[a + 1];
        data[a] = (int16_t)((ar + tr + round) >> shift);
        data[a + 1] = (int16_t)((ai + ti + round) >> shift);
        data[b] = (int16_t)((ar - tr + round) >> shift);
        data[b + 1] = (int16_t)((ai - ti + round) >> shift);
      }
    }
  }
  return exponent;
}

void fft_q15_power(const int16_t *data, uint32_t *power) {
  for (int32_t k = 0; k < FFT_Q15_N / 2; k++) {
    int32_t re = data[2 * k], im = data[2 * k + 1];
    power[k] = (uint32_t)(re * re) + (uint32_t)(im * im);
  }
}
