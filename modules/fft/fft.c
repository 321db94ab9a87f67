/*
 * fft.c - vibration analyzer (stream mode, window 1024). Per window: RMS, the strongest spectral line, four
 * band RMS values, and a 256-bin amplitude spectrum for the dashboard. The FFT kernel lives in
 * modules/sdk/fft_q15.c (no ABI glue, also built natively for the wasm-vs-native benchmark).
 *
 * Params: kiln.sample_rate_hz (default 25600), kiln.full_scale (g at Q15 full scale, default 16).
 * Outputs: peak_hz, peak_g (amplitude, 0-peak), rms_g (AC RMS of the window), band_0..band_3 (RMS in g within
 * 0-500 Hz, 0.5-2 kHz, 2-5 kHz, 5 kHz-Nyquist), spectrum (256 f32 amplitudes in g, each the larger of two
 * adjacent FFT bins, so bin i covers [2i, 2i + 2) * sample_rate / 1024), channel_errors.
 * Channel 0 (write:channel:<id>, which linking needs): after the outputs, one record per window, the anomaly
 * autoencoder's 256 log-power features (sdk/spectral_features.h, the same code ae_features runs) as 256 f32, 1024
 * bytes. No channel configured (KILN_ENOENT) is not an error; any other failure is counted in
 * channel_errors and logged when a spell of failures starts.
 */
#include "spectral_features.h"
#include "fft_q15.h"
#include "kiln.h"
#include "kmath.h"
#include "records.h"

#define N FFT_Q15_N
#define SPECTRUM_BINS 256
#define BANDS 4

/* Band edges in Hz; the last band ends at Nyquist. Chosen for a 25.6 kHz accelerometer: shaft harmonics
 * and gear mesh (< 500 Hz, 0.5-2 kHz), structural resonances excited by bearing impacts (2-5 kHz), and
 * high-frequency friction and cavitation (> 5 kHz), the split ISO 10816 / ISO 13373 practice uses. */
static const double band_lo_hz[BANDS] = {0, 500, 2000, 5000};
static const double band_hi_hz[BANDS] = {500, 2000, 5000, 1e12};
static const char *const band_key[BANDS] = {"band_0", "band_1", "band_2", "band_3"};

static double sample_rate_hz = 25600;
static double full_scale_g = 16;
static int16_t work[2 * N];
static uint32_t power[N / 2];
static float spectrum[SPECTRUM_BINS];
static float features[KILN_FEATURES_RECORD_COUNT];
static double channel_errors = 0;
static int32_t channel_failing = 0;
_Static_assert(KILN_FEATURES_RECORD_COUNT == FEATURES_COUNT, "the record holds the features");

KILN_EXPORT(kiln_init) int32_t kiln_init(void) {
  sample_rate_hz = kiln_param("kiln.sample_rate_hz", 25600);
  full_scale_g = kiln_param("kiln.full_scale", 16);
  if (!(sample_rate_hz > 0) || !(full_scale_g > 0)) {
    kiln_log_str(KILN_LOG_ERROR, "kiln.sample_rate_hz and kiln.full_scale must be positive");
    return KILN_EINVAL;
  }
  fft_q15_setup();
  return KILN_OK;
}

/* The FFT kernel alone, for benchmarks: 1024 interleaved complex Q15 values at `data`; returns the exponent. */
KILN_EXPORT(fft_q15_1024) int32_t fft_kernel_export(int16_t *data) {
  fft_q15_setup();
  return fft_q15_1024(data);
}

/* Grandke's interpolation for the Hann window: the tone's offset from bin k in bins, from the ratio of the
 * larger neighbour to bin k; exact for a lone tone. Also returns the amplitude correction of bin k. */
static double hann_offset(double left, double mid, double right, double *gain) {
  double d = 0;
  if (mid > 0) {
    if (right >= left) {
      double a = right / mid;
      d = (2 * a - 1) / (a + 1);
    } else {
      double a = left / mid;
      d = -(2 * a - 1) / (a + 1);
    }
  }
  if (d > 0.5) d = 0.5;
  if (d < -0.5) d = -0.5;
  /* |W(d)| / |W(0)| = sinc(d) / (1 - d^2) for Hann. */
  double pd = KMATH_PI * (d < 0 ? -d : d);
  *gain = pd < 1e-9 ? 1 : (1 - d * d) * pd / kmath_sin(pd);
  return d;
}

/* Writes the features to channel 0; a failure is data (channel_errors), not a failed window. */
static void write_features(void) {
  int32_t rc = kiln_channel_write(0, features, KILN_FEATURES_RECORD_BYTES);
  if (rc == KILN_OK || rc == KILN_ENOENT) {
    channel_failing = 0;
  } else {
    channel_errors++;
    if (!channel_failing) {
      kiln_msg_t m = {0};
      kiln_msg_str(&m, "Cannot write features to channel 0: error ");
      kiln_msg_f64(&m, rc, 0);
      kiln_msg_str(&m, rc == KILN_ELIMIT ? " (dropped: the channel is full)" : "");
      kiln_log(KILN_LOG_WARN, m.text, m.len);
      channel_failing = 1;
    }
  }
  kiln_output("channel_errors", channel_errors);
}

KILN_EXPORT(kiln_on_samples) int32_t kiln_on_samples(const int16_t *samples, int32_t count) {
  if (count != N) return KILN_EINVAL;
  int64_t sum = 0, sum_sq = 0;
  for (int32_t n = 0; n < N; n++) {
    int32_t v = samples[n];
    sum += v;
    sum_sq += (int64_t)(v * v);
  }
  const double counts_to_g = full_scale_g / 32767.0;
  double mean = (double)sum / N;
  double var = (double)sum_sq / N - mean * mean;
  double rms_g = kmath_sqrt(var > 0 ? var : 0) * counts_to_g;

  int32_t e = features_power(samples, work, power);
  double block = (double)(1u << e); /* true DFT = block value * 2^e */
  /* Amplitude (0-peak, g) of a tone in bin k: 4 |X| / N for Hann (coherent gain 1/2, one-sided x2). */
  double amp_scale = 4.0 / N * block * counts_to_g;
  double bin_hz = sample_rate_hz / N;

  /* Strongest line; the mean was removed before windowing, so bin 1 holds a slow 1x line, not DC leakage. */
  int32_t kmax = 1;
  for (int32_t k = 2; k < N / 2 - 1; k++)
    if (power[k] > power[kmax]) kmax = k;
  double left = kmath_sqrt((double)power[kmax - 1]), mid = kmath_sqrt((double)power[kmax]);
  double right = kmath_sqrt((double)power[kmax + 1]), gain;
  /* Below bin 3 the line's negative-frequency image overlaps the main lobe and biases the interpolation (by
   * up to half a bin, depending on phase), so there the bin centre is reported as it is. */
  double d = 0;
  gain = 1;
  if (kmax >= 3) d = hann_offset(left, mid, right, &gain);
  kiln_output("peak_hz", ((double)kmax + d) * bin_hz);
  kiln_output("peak_g", mid * gain * amp_scale);
  kiln_output("rms_g", rms_g);

  /* Band RMS by Parseval: mean square = 2 sum |X_k|^2 / (N^2 * 0.375), 0.375 = mean of hann^2. */
  double ms_scale = 2.0 / (0.375 * (double)N * (double)N) * block * block * counts_to_g * counts_to_g;
  for (int32_t b = 0; b < BANDS; b++) {
    double acc = 0;
    for (int32_t k = 1; k < N / 2; k++) {
      double f = k * bin_hz;
      if (f >= band_lo_hz[b] && f < band_hi_hz[b]) acc += (double)power[k];
    }
    kiln_output(band_key[b], kmath_sqrt(acc * ms_scale));
  }

  for (int32_t i = 0; i < SPECTRUM_BINS; i++) {
    uint32_t p = power[2 * i] > power[2 * i + 1] ? power[2 * i] : power[2 * i + 1];
    spectrum[i] = (float)(kmath_sqrt((double)p) * amp_scale);
  }
  kiln_output_array("spectrum", spectrum, SPECTRUM_BINS);

  features_log_power(power, e, features);
  write_features();
  return KILN_OK;
}
