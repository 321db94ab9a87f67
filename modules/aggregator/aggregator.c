/*
 * aggregator.c - plant temperature summary (periodic mode): every tick reads all of its inputs (the
 * temperatures its manifest lists under `inputs`, in °C), outputs their minimum, maximum and mean, and
 * publishes the summary as one JSON message over MQTT.
 *
 * Params: kiln.period_us (set by the host): a value older than twice the period is stale.
 * Inputs: input(0) .. input(n-1), up to 16; a value of bad quality, not finite or stale is skipped (uncertain
 *         quality is used as good).
 * Outputs: temperature_min_c, temperature_max_c, temperature_mean_c (only when at least one value was used),
 *          temperature_count (values used), published and publish_errors (messages).
 * MQTT: topic "kiln/summary/temperature" (fixed: params are numbers only), so the module needs
 *       write:mqtt:kiln/summary/temperature (or a filter covering it, e.g. kiln/summary/#). Payload, e.g.
 *       {"at_us":2000000,"period_us":1000000,"inputs":2,"temperature_count":2,"temperature_min_c":38.012,
 *        "temperature_max_c":45.031,"temperature_mean_c":41.522,"values_c":[45.031,38.012]}
 *       with null for a skipped value, and null min/max/mean when none was used. A failed publish is counted in
 *       publish_errors and logged when a spell of failures starts; the tick still succeeds.
 * No input configured: the tick returns KILN_ENOENT.
 */
#include "kiln.h"

#define MAX_INPUTS 16
#define TOPIC "kiln/summary/temperature"

static double period_us = 1000000;
static double stale_ms = 2000;
static double published = 0, publish_errors = 0;
static int32_t publish_failing = 0;

/* The JSON message; 16 inputs take well under 1 KiB. */
static char json[1024];
static int32_t json_len = 0;

static void put_str(const char *s) {
  while (*s && json_len < (int32_t)sizeof json - 1) json[json_len++] = *s++;
}

static void put_num(double v, int32_t decimals) {
  kiln_msg_t m = {0};
  kiln_msg_f64(&m, v, decimals);
  put_str(m.text);
}

static void put_field(const char *key, double v, int32_t decimals, int32_t valid) {
  put_str(",\"");
  put_str(key);
  put_str("\":");
  if (valid) put_num(v, decimals);
  else put_str("null");
}

KILN_EXPORT(kiln_init) int32_t kiln_init(void) {
  period_us = kiln_param("kiln.period_us", 1000000);
  if (!(period_us > 0)) {
    kiln_log_str(KILN_LOG_ERROR, "Cannot start: kiln.period_us must be positive");
    return KILN_EINVAL;
  }
  stale_ms = 2 * period_us / 1000;
  return KILN_OK;
}

KILN_EXPORT(kiln_on_tick) int32_t kiln_on_tick(int64_t now_us) {
  double values[MAX_INPUTS];
  int32_t used[MAX_INPUTS];
  int32_t n = 0, count = 0;
  double min = 0, max = 0, sum = 0;
  for (; n < MAX_INPUTS; n++) {
    kiln_input_t in;
    int32_t rc = kiln_input(n, &in);
    if (rc == KILN_ENOENT) break;
    if (rc != KILN_OK) return rc;
    double v = in.value;
    /* |v| < 1e15 also keeps "inf" (kiln_msg_f64's text for huge values) out of the JSON. */
    used[n] = in.quality != KILN_QUALITY_BAD && v > -1e15 && v < 1e15 && (double)in.age_ms <= stale_ms;
    values[n] = v;
    if (!used[n]) continue;
    if (count == 0 || v < min) min = v;
    if (count == 0 || v > max) max = v;
    sum += v;
    count++;
  }
  if (n == 0) return KILN_ENOENT;
  double mean = count > 0 ? sum / count : 0;
  if (count > 0) {
    kiln_output("temperature_min_c", min);
    kiln_output("temperature_max_c", max);
    kiln_output("temperature_mean_c", mean);
  }
  kiln_output("temperature_count", count);

  json_len = 0;
  put_str("{\"at_us\":");
  put_num((double)now_us, 0);
  put_field("period_us", period_us, 0, 1);
  put_field("inputs", n, 0, 1);
  put_field("temperature_count", count, 0, 1);
  put_field("temperature_min_c", min, 3, count > 0);
  put_field("temperature_max_c", max, 3, count > 0);
  put_field("temperature_mean_c", mean, 3, count > 0);
  put_str(",\"values_c\":[");
  for (int32_t i = 0; i < n; i++) {
    if (i > 0) put_str(",");
    if (used[i]) put_num(values[i], 3);
    else put_str("null");
  }
  put_str("]}");

  int32_t rc = kiln_publish_raw(TOPIC, (int32_t)sizeof TOPIC - 1, json, json_len);
  if (rc == KILN_OK) {
    published++;
    publish_failing = 0;
  } else {
    publish_errors++;
    if (!publish_failing) {
      kiln_msg_t m = {0};
      kiln_msg_str(&m, "Cannot publish the summary to " TOPIC ": error ");
      kiln_msg_f64(&m, rc, 0);
      kiln_log(KILN_LOG_WARN, m.text, m.len);
      publish_failing = 1;
    }
  }
  kiln_output("published", published);
  kiln_output("publish_errors", publish_errors);
  return KILN_OK;
}
