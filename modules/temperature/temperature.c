/*
 * temperature.c - temperature supervision (periodic mode): reads input 0 (°C), publishes the temperature and
 * its trend, and raises alerts with hysteresis.
 *
 * Params: warn_c (default 70), trip_c (85), hysteresis_c (2), max_trend_c_per_min (5), trend_window_s (60);
 *         kiln.period_us (set by the host) sizes the trend window: trend_window_s / period, 5 to 600 ticks.
 * Outputs: temperature_c; trend_c_per_min (least-squares slope over the trend window, once it holds 3 ticks).
 * Alerts: warning above warn_c, critical above trip_c, each raised once and re-armed below the limit minus
 *         hysteresis_c; warning when the trend exceeds max_trend_c_per_min over at least half a window,
 *         re-armed below half that rate. Input quality bad: no output and no alert, one log warning per
 *         bad spell. Quality uncertain is used as good.
 * Channel 0: when the temperature crosses trip_c upwards (the moment the critical alert is raised), one
 *         24-byte trip record (sdk/records.h: f64 temperature_c, f64 trip_c, i64 at_us) for a safety module.
 *         The module imports channel_write, so it needs a write:channel:<id> grant to be deployed at all;
 *         with the grant but no channel (KILN_ENOENT) nothing is written. Other failures are counted in the
 *         output channel_errors (on every tick with a good input) and logged.
 */
#include "kiln.h"
#include "records.h"

#define TREND_MAX 600

static double warn_c = 70, trip_c = 85, hysteresis_c = 2, max_trend = 5;
static int32_t trend_len = 60;
static double times_min[TREND_MAX], temps_c[TREND_MAX];
static int32_t head = 0, count = 0;
static int64_t t0_us = 0;
static int32_t have_t0 = 0;
static int32_t level = 0; /* 0 normal, 1 warning raised, 2 critical raised */
static int32_t trend_alerting = 0;
static int32_t bad_logged = 0;
static double channel_errors = 0;

KILN_EXPORT(kiln_init) int32_t kiln_init(void) {
  warn_c = kiln_param("warn_c", 70);
  trip_c = kiln_param("trip_c", 85);
  hysteresis_c = kiln_param("hysteresis_c", 2);
  max_trend = kiln_param("max_trend_c_per_min", 5);
  double period_us = kiln_param("kiln.period_us", 1000000);
  double window_s = kiln_param("trend_window_s", 60);
  if (!(period_us > 0) || !(window_s > 0) || !(hysteresis_c >= 0) || !(max_trend > 0) || !(trip_c >= warn_c)) {
    kiln_log_str(KILN_LOG_ERROR,
                 "Cannot start: need kiln.period_us > 0, trend_window_s > 0, hysteresis_c >= 0, "
                 "max_trend_c_per_min > 0 and trip_c >= warn_c");
    return KILN_EINVAL;
  }
  double n = window_s * 1e6 / period_us + 0.5;
  trend_len = n < 5 ? 5 : n > TREND_MAX ? TREND_MAX : (int32_t)n;
  return KILN_OK;
}

/* Least-squares slope of the buffered (time, temperature) points, °C per minute. */
static double trend_c_per_min(void) {
  double mt = 0, mc = 0;
  for (int32_t i = 0; i < count; i++) {
    mt += times_min[i];
    mc += temps_c[i];
  }
  mt /= count;
  mc /= count;
  double sxy = 0, sxx = 0;
  for (int32_t i = 0; i < count; i++) {
    double dt = times_min[i] - mt;
    sxy += dt * (temps_c[i] - mc);
    sxx += dt * dt;
  }
  return sxx > 0 ? sxy / sxx : 0;
}

static void alert_value(int32_t severity, const char *what, double value, const char *unit, const char *limit_name,
                        double limit) {
  kiln_msg_t m = {0};
  kiln_msg_str(&m, what);
  kiln_msg_f64(&m, value, 1);
  kiln_msg_str(&m, unit);
  kiln_msg_str(&m, " above ");
  kiln_msg_str(&m, limit_name);
  kiln_msg_str(&m, " ");
  kiln_msg_f64(&m, limit, 1);
  kiln_msg_str(&m, unit);
  kiln_alert_raw(severity, m.text, m.len);
}

/* Tells the safety module (channel 0) that the temperature crossed the trip limit. */
static void write_trip(double t, int64_t now_us) {
  kiln_trip_record_t rec = {.temperature_c = t, .trip_c = trip_c, .at_us = now_us};
  int32_t rc = kiln_channel_write(0, &rec, (int32_t)sizeof rec);
  if (rc == KILN_OK || rc == KILN_ENOENT) return;
  channel_errors++;
  kiln_msg_t m = {0};
  kiln_msg_str(&m, "Cannot write the trip record to channel 0: error ");
  kiln_msg_f64(&m, rc, 0);
  kiln_log(KILN_LOG_ERROR, m.text, m.len);
}

KILN_EXPORT(kiln_on_tick) int32_t kiln_on_tick(int64_t now_us) {
  kiln_input_t in;
  int32_t rc = kiln_input(0, &in);
  if (rc != KILN_OK) return rc;
  if (in.quality == KILN_QUALITY_BAD || in.value != in.value) {
    if (!bad_logged) {
      kiln_log_str(KILN_LOG_WARN, "Temperature input has bad quality: no output or alerts until it recovers");
      bad_logged = 1;
    }
    return KILN_OK;
  }
  if (bad_logged) {
    kiln_log_str(KILN_LOG_INFO, "Temperature input quality recovered");
    bad_logged = 0;
  }
  double t = in.value;
  if (!have_t0) {
    t0_us = now_us;
    have_t0 = 1;
  }
  times_min[head] = (double)(now_us - t0_us) / 60e6;
  temps_c[head] = t;
  head = (head + 1) % trend_len;
  if (count < trend_len) count++;
  kiln_output("temperature_c", t);

  if (level == 2 && t < trip_c - hysteresis_c) {
    level = 1;
    kiln_log_str(KILN_LOG_INFO, "Temperature back below the trip limit");
  }
  if (level == 1 && t < warn_c - hysteresis_c) {
    level = 0;
    kiln_log_str(KILN_LOG_INFO, "Temperature back below the warning limit");
  }
  if (t > trip_c && level < 2) {
    level = 2;
    alert_value(KILN_ALERT_CRITICAL, "Temperature ", t, " °C", "trip", trip_c);
    write_trip(t, now_us);
  } else if (t > warn_c && level < 1) {
    level = 1;
    alert_value(KILN_ALERT_WARNING, "Temperature ", t, " °C", "warning", warn_c);
  }
  kiln_output("channel_errors", channel_errors);

  if (count >= 3) {
    double trend = trend_c_per_min();
    kiln_output("trend_c_per_min", trend);
    if (!trend_alerting && count >= (trend_len + 1) / 2 && trend > max_trend) {
      trend_alerting = 1;
      alert_value(KILN_ALERT_WARNING, "Temperature rising ", trend, " °C/min", "limit", max_trend);
    } else if (trend_alerting && trend < max_trend / 2) {
      trend_alerting = 0;
      kiln_log_str(KILN_LOG_INFO, "Temperature trend back to normal");
    }
  }
  return KILN_OK;
}
