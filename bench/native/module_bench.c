/*
 * module_bench.c - times a Kiln module's own C source built natively (gcc -O2) against the STUB host imports
 * of kiln_host_stubs.c: `kiln_on_samples` on 1024-sample windows, and the module's compute kernel alone.
 * bench/compute.ts builds it once per module, with the module's sources and one of
 *   -DKILN_BENCH_FFT      modules/fft: kernel fft_q15_1024 (the export fft_kernel_export)
 *   -DKILN_BENCH_ANOMALY  modules/anomaly: kernel ae_score (the export ae_score_export)
 * and runs it once per round, side by side with the same module run as a Kiln module.
 *
 * Usage: module_bench WINDOWS WARMUP ITERATIONS [--pace-us US] [--param KEY=VALUE]... [--data NAME=PATH]
 *   WINDOWS: 1024-sample windows of little-endian int16, back to back.
 *   --pace-us: sleep US microseconds (nanosleep) before each timed kiln_on_samples, as a module called at the
 *   plant's pace (25-100 times a second) runs with cold caches; the kernel alone is then not timed
 *   ("kernel_ns" is empty).
 * Prints one JSON object: "outputs" (what each window's kiln_on_samples output, in order, right after
 * kiln_init), "kernel_outputs" (per window: the FFT's block exponent and an FNV-1a hash of its 2048 int16
 * results, or the autoencoder's score), then "invocation_ns" and "kernel_ns", one per timed call.
 */
/* clock_gettime under -std=c11. */
#define _POSIX_C_SOURCE 199309L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"
#include "kiln_host_stubs.h"

#define WINDOW 1024

/* The module's handlers and kernel exports (defined by its own sources). */
int32_t kiln_init(void);
int32_t kiln_on_samples(const int16_t *samples, int32_t count);
#if defined(KILN_BENCH_FFT)
int32_t fft_kernel_export(int16_t *data);
#elif defined(KILN_BENCH_ANOMALY)
void ae_features_export(const int16_t *samples, float *out);
float ae_score_export(const float *in);
#else
#error "define KILN_BENCH_FFT or KILN_BENCH_ANOMALY"
#endif

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static uint8_t *read_file(const char *path, long *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  fseek(f, 0, SEEK_END);
  *len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *bytes = malloc((size_t)*len + 1);
  if (!bytes || fread(bytes, 1, (size_t)*len, f) != (size_t)*len) {
    fclose(f);
    free(bytes);
    return 0;
  }
  fclose(f);
  return bytes;
}

static void fail(const char *what, const char *detail) {
  fprintf(stderr, "module_bench: %s: %s\n", what, detail);
  exit(1);
}

/* The kernel's input, prepared outside the timed call. */
static int16_t complex_in[2 * WINDOW];
#if defined(KILN_BENCH_ANOMALY)
static float features[256];
#endif

static void kernel_prepare(const int16_t *window) {
#if defined(KILN_BENCH_FFT)
  for (int32_t n = 0; n < WINDOW; n++) {
    complex_in[2 * n] = window[n];
    complex_in[2 * n + 1] = 0;
  }
#else
  (void)complex_in;
  ae_features_export(window, features);
#endif
}

/* Runs the kernel once; returns what the verification prints for it. */
static double kernel_run(void) {
#if defined(KILN_BENCH_FFT)
  return (double)fft_kernel_export(complex_in);
#else
  return (double)ae_score_export(features);
#endif
}

#if defined(KILN_BENCH_FFT)
/* FNV-1a over the FFT's 2048 int16 results as little-endian bytes (bench/compute.ts computes the same). */
static uint32_t fnv1a(const int16_t *values, int32_t count) {
  uint32_t h = 2166136261u;
  for (int32_t i = 0; i < count; i++) {
    uint16_t v = (uint16_t)values[i];
    h = (h ^ (v & 0xffu)) * 16777619u;
    h = (h ^ (v >> 8)) * 16777619u;
  }
  return h;
}
#endif

int main(int argc, char **argv) {
  if (argc < 4) fail("usage", "module_bench WINDOWS WARMUP ITERATIONS [--param K=V]... [--data NAME=PATH]");
  long windows_len = 0;
  int16_t *windows = (int16_t *)read_file(argv[1], &windows_len);
  if (!windows || windows_len < WINDOW * 2) fail("cannot read windows", argv[1]);
  int32_t count = (int32_t)(windows_len / (WINDOW * 2));
  long warmup = atol(argv[2]), iterations = atol(argv[3]);
  long pace_us = 0;
  for (int i = 4; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--pace-us") == 0) {
      pace_us = atol(argv[i + 1]);
      continue;
    }
    char *eq = strchr(argv[i + 1], '=');
    if (!eq) fail("expected NAME=VALUE", argv[i + 1]);
    *eq = 0;
    if (strcmp(argv[i], "--param") == 0) {
      kiln_stub_set_param(argv[i + 1], atof(eq + 1));
    } else if (strcmp(argv[i], "--data") == 0) {
      long len = 0;
      uint8_t *blob = read_file(eq + 1, &len);
      if (!blob) fail("cannot read data blob", eq + 1);
      kiln_stub_set_data(argv[i + 1], blob, (int32_t)len);
    } else {
      fail("unknown option", argv[i]);
    }
  }
  if (kiln_init() != KILN_OK) fail("kiln_init", "failed");

  static int16_t samples[WINDOW];
  printf("{\"outputs\":[");
  for (int32_t w = 0; w < count; w++) {
    printf(w ? ",[" : "[");
    kiln_stub_record(stdout);
    memcpy(samples, windows + (size_t)w * WINDOW, sizeof samples);
    int32_t rc = kiln_on_samples(samples, WINDOW);
    kiln_stub_record(0);
    printf("]");
    if (rc != KILN_OK) fail("kiln_on_samples", "returned an error");
  }
  printf("],\"kernel_outputs\":[");
  for (int32_t w = 0; w < count; w++) {
    kernel_prepare(windows + (size_t)w * WINDOW);
    double r = kernel_run();
#if defined(KILN_BENCH_FFT)
    printf("%s[%.17g,%u]", w ? "," : "", r, fnv1a(complex_in, 2 * WINDOW));
#else
    printf("%s%.9g", w ? "," : "", r);
#endif
  }

  int64_t *invocation_ns = malloc(sizeof(int64_t) * (size_t)(iterations > 0 ? iterations : 1));
  int64_t *kernel_ns = malloc(sizeof(int64_t) * (size_t)(iterations > 0 ? iterations : 1));
  if (!invocation_ns || !kernel_ns) fail("out of memory", "timings");
  for (long i = -warmup; i < iterations; i++) {
    const int16_t *window = windows + (size_t)((i + warmup) % count) * WINDOW;
    if (pace_us > 0 && i >= 0) {
      struct timespec pause = {pace_us / 1000000, (pace_us % 1000000) * 1000};
      nanosleep(&pause, 0);
    }
    int64_t t0 = now_ns();
    memcpy(samples, window, sizeof samples); /* as the host copies a window into linear memory */
    int32_t rc = kiln_on_samples(samples, WINDOW);
    int64_t t1 = now_ns();
    if (rc != KILN_OK) fail("kiln_on_samples", "returned an error");
    if (i >= 0) invocation_ns[i] = t1 - t0;
  }
  volatile double sink = 0;
  long kernel_iterations = pace_us > 0 ? 0 : iterations;
  for (long i = -warmup; i < kernel_iterations; i++) {
    kernel_prepare(windows + (size_t)((i + warmup) % count) * WINDOW);
    int64_t t0 = now_ns();
    sink += kernel_run();
    int64_t t1 = now_ns();
    if (i >= 0) kernel_ns[i] = t1 - t0;
  }
  printf("],\"invocation_ns\":[");
  for (long i = 0; i < iterations; i++) printf("%s%lld", i ? "," : "", (long long)invocation_ns[i]);
  printf("],\"kernel_ns\":[");
  for (long i = 0; i < kernel_iterations; i++) printf("%s%lld", i ? "," : "", (long long)kernel_ns[i]);
  printf("],\"stub_calls\":{\"outputs\":%llu,\"arrays\":%llu,\"logs\":%llu,\"alerts\":%llu}}\n",
         (unsigned long long)kiln_stub_outputs, (unsigned long long)kiln_stub_arrays,
         (unsigned long long)kiln_stub_logs, (unsigned long long)kiln_stub_alerts);
  return 0;
}
