/*
 * vibration_rms.c - the SDK example module in C (the same module is in ../rust and ../as; the three give the
 * same outputs and alerts for the same samples, tests/sdk/example_test.ts runs them side by side).
 *
 * Stream mode, window 1024. Per window, integer arithmetic only (kiln_fixed.h):
 *   - the RMS of the window's Q15 samples (q15_rms) and its largest |sample| (q15_peak);
 *   - the mean-removed, Hann-windowed Q15 FFT and the strongest line of its power spectrum, DC skipped
 *     (spectrum_peak_bin): bin and frequency;
 *   - a debounced threshold alert: raised (warning) after `raise_after` consecutive windows whose RMS is above
 *     the threshold, cleared (an info log line) after `clear_after` consecutive windows at or below it.
 *
 * Params: rms_alert_g (threshold, g RMS, default 0.27), raise_after (windows, default 3), clear_after
 * (windows, default 5), kiln.sample_rate_hz (default 25600), kiln.full_scale (g at Q15 full scale, default 16).
 * The threshold in counts is q15_from_f64(rms_alert_g / kiln.full_scale).
 * Outputs: windows, rms_q15, rms_g, max_abs_q15, peak_bin, peak_hz, alarm (0 or 1), rms_alert_q15.
 */
#include "kiln.h"
#include "kiln_fixed.h"

#define N FFT_Q15_N

static double sample_rate_hz = 25600;
static double full_scale_g = 16;
static int32_t threshold_q15 = 0;
static int32_t raise_after = 3;
static int32_t clear_after = 5;
static int32_t windows = 0;
static int32_t above_run = 0;
static int32_t below_run = 0;
static int32_t alarm = 0;
static int16_t work[2 * N];
static uint32_t power[N / 2];

/* A window count from params: a whole number from 1 to 1000, or -1. */
static int32_t window_count(const char *key, double fallback) {
  double v = kiln_param(key, fallback);
  if (!(v >= 1 && v <= 1000) || (double)(int32_t)v != v) return -1;
  return (int32_t)v;
}

KILN_EXPORT(kiln_init) int32_t kiln_init(void) {
  sample_rate_hz = kiln_param("kiln.sample_rate_hz", 25600);
  full_scale_g = kiln_param("kiln.full_scale", 16);
  double alert_g = kiln_param("rms_alert_g", 0.27);
  raise_after = window_count("raise_after", 3);
  clear_after = window_count("clear_after", 5);
  if (!(sample_rate_hz > 0) || !(full_scale_g > 0) || !(alert_g > 0) || raise_after < 0 || clear_after < 0) {
    kiln_log_str(KILN_LOG_ERROR, "Cannot start: kiln.sample_rate_hz, kiln.full_scale and rms_alert_g must be "
                                 "positive, raise_after and clear_after whole numbers from 1 to 1000");
    return KILN_EINVAL;
  }
  threshold_q15 = q15_from_f64(alert_g / full_scale_g);
  fft_q15_setup();
  return KILN_OK;
}

static void msg_int(kiln_msg_t *m, int32_t v) { kiln_msg_f64(m, (double)v, 0); }

KILN_EXPORT(kiln_on_samples) int32_t kiln_on_samples(const int16_t *samples, int32_t count) {
  if (count != N) return KILN_EINVAL;
  windows++;
  int32_t rms = q15_rms(samples, N);
  int32_t max_abs = q15_abs(samples[q15_peak(samples, N)]);

  fft_q15_window(samples, q15_mean(samples, N), work);
  fft_q15_1024(work);
  fft_q15_power(work, power);
  int32_t bin = spectrum_peak_bin(power, N / 2, 1);

  if (rms > threshold_q15) {
    above_run++;
    below_run = 0;
  } else {
    below_run++;
    above_run = 0;
  }
  if (!alarm && above_run >= raise_after) {
    alarm = 1;
    kiln_msg_t m = {0};
    kiln_msg_str(&m, "Vibration RMS above ");
    msg_int(&m, threshold_q15);
    kiln_msg_str(&m, " (Q15) for ");
    msg_int(&m, raise_after);
    kiln_msg_str(&m, " windows: ");
    msg_int(&m, rms);
    kiln_msg_str(&m, " at window ");
    msg_int(&m, windows);
    kiln_alert(KILN_ALERT_WARNING, m.text);
  } else if (alarm && below_run >= clear_after) {
    alarm = 0;
    kiln_msg_t m = {0};
    kiln_msg_str(&m, "Vibration RMS alert cleared: at or below ");
    msg_int(&m, threshold_q15);
    kiln_msg_str(&m, " (Q15) for ");
    msg_int(&m, clear_after);
    kiln_msg_str(&m, " windows, at window ");
    msg_int(&m, windows);
    kiln_log(KILN_LOG_INFO, m.text, m.len);
  }

  kiln_output("windows", windows);
  kiln_output("rms_q15", rms);
  kiln_output("rms_g", (double)rms * full_scale_g / 32768.0);
  kiln_output("max_abs_q15", max_abs);
  kiln_output("peak_bin", bin);
  kiln_output("peak_hz", (double)bin * sample_rate_hz / N);
  kiln_output("alarm", alarm);
  kiln_output("rms_alert_q15", threshold_q15);
  return KILN_OK;
}
