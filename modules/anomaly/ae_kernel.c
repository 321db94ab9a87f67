/*
 * ae_kernel.c - see ae_kernel.h.
 */
#include "ae_kernel.h"

#include "spectral_features.h"

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

_Static_assert(AE_WINDOW == FEATURES_WINDOW && AE_FEATURES == FEATURES_COUNT, "spectral_features.h must match");

static int16_t work[2 * AE_WINDOW];
static uint32_t power[AE_WINDOW / 2];

static uint32_t rd_u16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static float rd_f32(const uint8_t *p) {
  union {
    uint32_t u;
    float f;
  } v = {rd_u32(p)};
  return v.f;
}
static int good_scale(float s) { return s > 0 && s < 1e30f; }

int32_t ae_blob_size(int32_t n_hidden) {
  return AE_HEADER_BYTES + 8 * AE_FEATURES + 2 * n_hidden * AE_FEATURES + 4 * n_hidden + 4 * AE_FEATURES;
}

int32_t ae_load(ae_model_t *m, const uint8_t *blob, int32_t len) {
  if (len < AE_HEADER_BYTES || blob[0] != 'K' || blob[1] != 'A' || blob[2] != 'E' || blob[3] != '1')
    return AE_ERR_MAGIC;
  if (rd_u16(blob + 4) != 1) return AE_ERR_VERSION;
  int32_t n_in = (int32_t)rd_u16(blob + 6), n_hidden = (int32_t)rd_u16(blob + 8);
  if (n_in != AE_FEATURES || n_hidden < 1 || n_hidden > AE_MAX_HIDDEN) return AE_ERR_DIMS;
  if (len != ae_blob_size(n_hidden)) return AE_ERR_SIZE;
  m->n_hidden = n_hidden;
  m->x_scale = rd_f32(blob + 12);
  m->w1_scale = rd_f32(blob + 16);
  m->h_scale = rd_f32(blob + 20);
  m->w2_scale = rd_f32(blob + 24);
  m->threshold = rd_f32(blob + 28);
  if (!good_scale(m->x_scale) || !good_scale(m->w1_scale) || !good_scale(m->h_scale) ||
      !good_scale(m->w2_scale) || !good_scale(m->threshold))
    return AE_ERR_SCALE;
  const uint8_t *p = blob + AE_HEADER_BYTES;
  for (int32_t i = 0; i < AE_FEATURES; i++) m->mean[i] = rd_f32(p + 4 * i);
  p += 4 * AE_FEATURES;
  for (int32_t i = 0; i < AE_FEATURES; i++) m->inv_std[i] = rd_f32(p + 4 * i);
  p += 4 * AE_FEATURES;
  m->w1 = (const int8_t *)p;
  p += n_hidden * AE_FEATURES;
  m->w2 = (const int8_t *)p;
  p += n_hidden * AE_FEATURES;
  for (int32_t j = 0; j < n_hidden; j++) m->b1[j] = (int32_t)rd_u32(p + 4 * j);
  p += 4 * n_hidden;
  for (int32_t i = 0; i < AE_FEATURES; i++) m->b2[i] = (int32_t)rd_u32(p + 4 * i);
  return AE_OK;
}

void ae_features(const int16_t *samples, float *features) {
  int32_t e = features_power(samples, work, power);
  features_log_power(power, e, features);
}

/* Round half away from zero and clamp to int8's symmetric range. */
static int8_t q8(float v) {
  float r = v < 0 ? v - 0.5f : v + 0.5f;
  if (r >= 127.0f) return 127;
  if (r <= -127.0f) return -127;
  return (int8_t)(int32_t)r;
}

/* Dot product of two int8 vectors of length n (a multiple of 16), accumulated in int32. */
static int32_t dot_i8(const int8_t *a, const int8_t *b, int32_t n) {
#ifdef __wasm_simd128__
  v128_t acc = wasm_i32x4_splat(0);
  for (int32_t i = 0; i < n; i += 16) {
    v128_t va = wasm_v128_load(a + i), vb = wasm_v128_load(b + i);
    acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(va), wasm_i16x8_extend_low_i8x16(vb)));
    acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(va), wasm_i16x8_extend_high_i8x16(vb)));
  }
  return wasm_i32x4_extract_lane(acc, 0) + wasm_i32x4_extract_lane(acc, 1) + wasm_i32x4_extract_lane(acc, 2) +
         wasm_i32x4_extract_lane(acc, 3);
#else
  int32_t acc = 0;
  for (int32_t i = 0; i < n; i++) acc += (int32_t)a[i] * (int32_t)b[i];
  return acc;
#endif
}

float ae_score(const ae_model_t *m, const float *features) {
  /* 16-byte aligned so the SIMD loads are aligned (they need not be, but it is cheaper). */
  static int8_t xq[AE_FEATURES] __attribute__((aligned(16)));
  static int8_t hq[AE_MAX_HIDDEN] __attribute__((aligned(16)));
  int32_t nh = m->n_hidden, nh16 = (nh + 15) & ~15;
  for (int32_t i = 0; i < AE_FEATURES; i++) xq[i] = q8((features[i] - m->mean[i]) * m->inv_std[i] / m->x_scale);
  float enc = m->x_scale * m->w1_scale / m->h_scale;
  for (int32_t j = 0; j < nh; j++) hq[j] = q8((float)(m->b1[j] + dot_i8(m->w1 + j * AE_FEATURES, xq, AE_FEATURES)) * enc);
  for (int32_t j = nh; j < nh16; j++) hq[j] = 0;
  float dec = m->h_scale * m->w2_scale;
  float err = 0;
  for (int32_t i = 0; i < AE_FEATURES; i++) {
    const int8_t *row = m->w2 + i * nh;
    int32_t acc = m->b2[i];
    if (nh == nh16) {
      acc += dot_i8(row, hq, nh);
    } else {
      for (int32_t j = 0; j < nh; j++) acc += (int32_t)row[j] * (int32_t)hq[j];
    }
    float d = (float)acc * dec - (float)xq[i] * m->x_scale;
    err += d * d;
  }
  return err / AE_FEATURES;
}
