/*
 * kmath.h - the few math functions the modules need, in plain C without libm, so that a module is
 * freestanding and gives bit-identical results as wasm32 and as native code (IEEE-754 double everywhere; no
 * x87, no fused multiply-add: build native code with -ffp-contract=off).
 */
#ifndef KILN_KMATH_H
#define KILN_KMATH_H

#include <stdint.h>

#define KMATH_PI 3.14159265358979323846

/* sin(x) for 0 <= x <= pi: Taylor series on [0, pi/2] (error below 1e-13), mirrored for (pi/2, pi]. */
static inline double kmath_sin_0_pi(double x) {
  if (x > KMATH_PI / 2) x = KMATH_PI - x;
  double x2 = x * x, term = x, sum = x;
  for (int k = 1; k <= 10; k++) {
    term *= -x2 / (double)((2 * k) * (2 * k + 1));
    sum += term;
  }
  return sum;
}

/* sin(x) for any finite x. */
static inline double kmath_sin(double x) {
  const double two_pi = 2 * KMATH_PI;
  x -= two_pi * (double)(int64_t)(x / two_pi);
  if (x < 0) x += two_pi;
  return x <= KMATH_PI ? kmath_sin_0_pi(x) : -kmath_sin_0_pi(x - KMATH_PI);
}

static inline double kmath_cos(double x) { return kmath_sin(x + KMATH_PI / 2); }

/* log2(x) for x > 0 (returns -1024 for x <= 0): exponent from the bits, mantissa m in [1, 2) via
 * ln m = 2 atanh((m - 1) / (m + 1)), a series in s <= 1/3 (error below 1e-9). */
static inline double kmath_log2(double x) {
  if (!(x > 0)) return -1024.0;
  union {
    double d;
    uint64_t u;
  } bits = {x};
  int32_t e = (int32_t)((bits.u >> 52) & 0x7ff) - 1023;
  bits.u = (bits.u & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
  double m = bits.d;
  if (e == -1023) return -1024.0; /* subnormal: far below anything a module measures */
  double s = (m - 1) / (m + 1), s2 = s * s, term = s, sum = s;
  for (int k = 3; k <= 15; k += 2) {
    term *= s2;
    sum += term / (double)k;
  }
  return (double)e + 2 * sum * 1.44269504088896340736; /* 1 / ln 2 */
}

static inline double kmath_sqrt(double x) { return __builtin_sqrt(x); }

#endif /* KILN_KMATH_H */
