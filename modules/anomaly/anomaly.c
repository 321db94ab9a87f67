/*
 * anomaly.c - vibration anomaly detector (stream mode, window 1024): spectral features -> int8 autoencoder ->
 * reconstruction error. The kernel lives in ae_kernel.c (no ABI glue, also built natively).
 *
 * Two ways in, one scoring path: kiln_on_samples takes raw 1024-sample windows (a stream from a sensor);
 * kiln_on_record takes a channel record of the 256 features the fft module computed with the same code
 * (sdk/spectral_features.c), 256 little-endian f32, 1024 bytes (a stream from channel:<id>).
 *
 * Data: blob "weights" (format in ae_kernel.h and modules/README.md), made by modules/anomaly/train.ts.
 * Params: threshold (default: the one stored in the weights), debounce (windows, default 3).
 * Outputs: score, threshold.
 * Alerts: critical when the score stays above the threshold for `debounce` consecutive windows; raised once,
 * re-armed only after the score has stayed below the threshold for `debounce` consecutive windows again.
 */
#include "ae_kernel.h"
#include "kiln.h"
#include "records.h"

static ae_model_t model;
static int32_t loaded = 0;
static float features[AE_FEATURES];
static double threshold = 0;
static int32_t debounce = 3;
static int32_t above = 0, below = 0, alerting = 0;

KILN_EXPORT(kiln_init) int32_t kiln_init(void) {
  int32_t len = 0;
  const uint8_t *blob = kiln_data_str("weights", &len);
  if (!blob) {
    kiln_log_str(KILN_LOG_ERROR, "Cannot start: data blob \"weights\" is missing");
    return KILN_ENOENT;
  }
  int32_t rc = ae_load(&model, blob, len);
  if (rc != AE_OK) {
    kiln_msg_t m = {0};
    kiln_msg_str(&m, "Cannot start: data blob \"weights\" is invalid (ae_load error ");
    kiln_msg_f64(&m, rc, 0);
    kiln_msg_str(&m, ")");
    kiln_log(KILN_LOG_ERROR, m.text, m.len);
    return KILN_EINVAL;
  }
  threshold = kiln_param("threshold", model.threshold);
  double d = kiln_param("debounce", 3);
  debounce = d < 1 ? 1 : d > 1000 ? 1000 : (int32_t)d;
  if (kiln_param("kiln.window", AE_WINDOW) != AE_WINDOW) {
    kiln_log_str(KILN_LOG_ERROR, "Cannot start: kiln.window must be 1024");
    return KILN_EINVAL;
  }
  loaded = 1;
  return KILN_OK;
}

/* Kernel exports for training and benchmarks: features of a window, and the score of features. */
KILN_EXPORT(ae_features) void ae_features_export(const int16_t *samples, float *out) { ae_features(samples, out); }

/* The score of 256 f32 features at `in`; -1 before kiln_init has loaded the weights. */
KILN_EXPORT(ae_score) float ae_score_export(const float *in) { return loaded ? ae_score(&model, in) : -1.0f; }

/* Scores features and runs the debounce: the path both handlers share after feature extraction. */
static int32_t score_features(const float *f) {
  double score = ae_score(&model, f);
  kiln_output("score", score);
  kiln_output("threshold", threshold);
  if (score > threshold) {
    above++;
    below = 0;
  } else {
    below++;
    above = 0;
  }
  if (!alerting && above >= debounce) {
    alerting = 1;
    kiln_msg_t m = {0};
    kiln_msg_str(&m, "Vibration anomaly: score ");
    kiln_msg_f64(&m, score, 2);
    kiln_msg_str(&m, " above threshold ");
    kiln_msg_f64(&m, threshold, 2);
    kiln_msg_str(&m, " for ");
    kiln_msg_f64(&m, above, 0);
    kiln_msg_str(&m, " windows");
    kiln_alert_raw(KILN_ALERT_CRITICAL, m.text, m.len);
  } else if (alerting && below >= debounce) {
    alerting = 0;
    kiln_log_str(KILN_LOG_INFO, "Vibration anomaly cleared: score back below threshold");
  }
  return KILN_OK;
}

KILN_EXPORT(kiln_on_samples) int32_t kiln_on_samples(const int16_t *samples, int32_t count) {
  if (count != AE_WINDOW) return KILN_EINVAL;
  if (!loaded) return KILN_EINVAL;
  ae_features(samples, features);
  return score_features(features);
}

/* One channel record: 256 f32 features. Copied out of the host's record buffer first (which makes no
 * alignment assumption) and checked: the record comes from another module, and a NaN would reach the
 * float-to-int conversion of the quantizer. */
KILN_EXPORT(kiln_on_record) int32_t kiln_on_record(const uint8_t *record, int32_t len) {
  if (len != KILN_FEATURES_RECORD_BYTES) return KILN_EINVAL;
  if (!loaded) return KILN_EINVAL;
  __builtin_memcpy(features, record, KILN_FEATURES_RECORD_BYTES);
  for (int32_t i = 0; i < AE_FEATURES; i++) {
    float f = features[i];
    if (!(f > -1e30f && f < 1e30f)) return KILN_EINVAL;
  }
  return score_features(features);
}
