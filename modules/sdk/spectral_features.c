/*
 * spectral_features.c - see spectral_features.h.
 */
#include "spectral_features.h"

#include "kmath.h"

int32_t features_dc(const int16_t *samples) {
  int64_t sum = 0;
  for (int32_t n = 0; n < FEATURES_WINDOW; n++) sum += samples[n];
  /* C division truncates toward zero, so adding half the divisor away from zero rounds half away from zero. */
  return (int32_t)((sum + (sum < 0 ? -FEATURES_WINDOW / 2 : FEATURES_WINDOW / 2)) / FEATURES_WINDOW);
}

int32_t features_power(const int16_t *samples, int16_t *work, uint32_t *power) {
  fft_q15_setup();
  fft_q15_window(samples, features_dc(samples), work);
  int32_t e = fft_q15_1024(work);
  fft_q15_power(work, power);
  return e;
}

void features_log_power(const uint32_t *power, int32_t exponent, float *features) {
  double block = (double)(1ull << (2 * exponent)); /* power scales by 4^e */
  for (int32_t j = 0; j < FEATURES_COUNT; j++) {
    double p = ((double)power[2 * j] + (double)power[2 * j + 1]) * block;
    features[j] = (float)kmath_log2(p + 1.0);
  }
}
