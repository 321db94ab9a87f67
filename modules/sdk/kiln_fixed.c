/*
 * kiln_fixed.c - see kiln_fixed.h. The Rust (modules/sdk/rust/src/fixed.rs) and AssemblyScript
 * (modules/sdk/assemblyscript/assembly/fixed.ts) helpers follow this code line for line.
 */
#include "kiln_fixed.h"

int16_t q15_from_f64(double x) {
  double v = x * 32768.0;
  if (v != v) return 0;
  if (v >= 32767.0) return INT16_MAX;
  if (v <= -32768.0) return INT16_MIN;
  int32_t i = (int32_t)v; /* truncates towards zero; |v| < 2^15 so it is in range */
  double frac = v - (double)i; /* exact */
  return (int16_t)(frac >= 0.5 ? i + 1 : frac <= -0.5 ? i - 1 : i);
}

int32_t q31_from_f64(double x) {
  double v = x * 2147483648.0;
  if (v != v) return 0;
  if (v >= 2147483647.0) return INT32_MAX;
  if (v <= -2147483648.0) return INT32_MIN;
  int64_t i = (int64_t)v; /* truncates towards zero; in range */
  double frac = v - (double)i; /* exact: |v| < 2^31 */
  return (int32_t)(frac >= 0.5 ? i + 1 : frac <= -0.5 ? i - 1 : i);
}

uint32_t isqrt_u64(uint64_t x) {
  uint64_t op = x, res = 0, one = (uint64_t)1 << 62;
  while (one > op) one >>= 2;
  while (one != 0) {
    if (op >= res + one) {
      op -= res + one;
      res = (res >> 1) + one;
    } else {
      res >>= 1;
    }
    one >>= 2;
  }
  return (uint32_t)res;
}

int32_t q15_mean(const int16_t *x, int32_t n) {
  if (n <= 0) return 0;
  int64_t sum = 0;
  for (int32_t i = 0; i < n; i++) sum += x[i];
  int64_t half = n / 2;
  /* Division truncates towards zero, so adding half the divisor away from zero rounds half away from zero. */
  return (int32_t)((sum + (sum < 0 ? -half : half)) / n);
}

int32_t q15_rms(const int16_t *x, int32_t n) {
  if (n <= 0) return 0;
  uint64_t sum = 0;
  for (int32_t i = 0; i < n; i++) sum += (uint64_t)((int64_t)x[i] * x[i]);
  uint64_t count = (uint64_t)n;
  uint64_t r = isqrt_u64(sum / count); /* floor(sqrt(floor(s))) == floor(sqrt(s)) */
  uint64_t up = 2 * r + 1;             /* round up when sum / n >= (r + 1/2)^2 */
  return (int32_t)(4 * sum >= count * up * up ? r + 1 : r);
}

int32_t q15_peak(const int16_t *x, int32_t n) {
  int32_t best = -1, best_abs = -1;
  for (int32_t i = 0; i < n; i++) {
    int32_t a = q15_abs(x[i]);
    if (a > best_abs) {
      best_abs = a;
      best = i;
    }
  }
  return best;
}

int32_t spectrum_peak_bin(const uint32_t *power, int32_t n, int32_t first) {
  int32_t best = -1;
  uint32_t best_power = 0;
  for (int32_t i = first < 0 ? 0 : first; i < n; i++) {
    if (best < 0 || power[i] > best_power) {
      best_power = power[i];
      best = i;
    }
  }
  return best;
}
