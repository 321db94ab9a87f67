/*
 * kiln_host_stubs.c - see kiln_host_stubs.h. Every function below is a STUB of a host import declared in
 * modules/sdk/kiln.h, for native builds only; none of it runs inside Kiln.
 */
/* clock_gettime under -std=c11. */
#define _POSIX_C_SOURCE 199309L

#include "kiln_host_stubs.h"

#include <string.h>
#include <time.h>

#include "kiln.h"

#define STUB_MAX_PARAMS 16
#define STUB_MAX_KEY 64

static struct {
  char key[STUB_MAX_KEY];
  double value;
} params[STUB_MAX_PARAMS];
static int32_t param_count = 0;
static const uint8_t *blob = 0;
static int32_t blob_len = 0;
static char blob_name[STUB_MAX_KEY];
static FILE *recording = 0;
static int32_t recorded = 0;

uint64_t kiln_stub_outputs = 0, kiln_stub_arrays = 0, kiln_stub_logs = 0, kiln_stub_alerts = 0;

void kiln_stub_set_param(const char *key, double value) {
  if (param_count >= STUB_MAX_PARAMS || strlen(key) >= STUB_MAX_KEY) return;
  strcpy(params[param_count].key, key);
  params[param_count++].value = value;
}

void kiln_stub_set_data(const char *name, const uint8_t *bytes, int32_t len) {
  if (strlen(name) >= STUB_MAX_KEY) return;
  strcpy(blob_name, name);
  blob = bytes;
  blob_len = len;
}

void kiln_stub_record(FILE *out) {
  recording = out;
  recorded = 0;
}

static int same_key(const char *a, int32_t a_len, const char *b) {
  return (int32_t)strlen(b) == a_len && memcmp(a, b, (size_t)a_len) == 0;
}

/* A JSON string of `len` bytes; the modules' keys are plain ASCII identifiers. */
static void record_key(const char *key, int32_t len) {
  fputs(recorded++ ? "," : "", recording);
  fputc('[', recording);
  fputc('"', recording);
  fwrite(key, 1, (size_t)len, recording);
  fputc('"', recording);
}

/* Stub of kiln.log: counts the line, drops it. */
int32_t kiln_log(int32_t level, const char *ptr, int32_t len) {
  (void)level, (void)ptr, (void)len;
  kiln_stub_logs++;
  return KILN_OK;
}

/* Stub of kiln.now_us: the monotonic clock. */
int64_t kiln_now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Stub of kiln.param_f64: the params set with kiln_stub_set_param, else `fallback`. */
double kiln_param_f64(const char *key, int32_t key_len, double fallback) {
  for (int32_t i = 0; i < param_count; i++)
    if (same_key(key, key_len, params[i].key)) return params[i].value;
  return fallback;
}

/* Stub of kiln.data: the blob set with kiln_stub_set_data. */
const uint8_t *kiln_data(const char *name, int32_t name_len, int32_t *out_len) {
  if (!blob || !same_key(name, name_len, blob_name)) return 0;
  *out_len = blob_len;
  return blob;
}

/* Stub of kiln.input: no inputs are configured. */
int32_t kiln_input(int32_t index, kiln_input_t *out) {
  (void)index, (void)out;
  return KILN_ENOENT;
}

/* Stub of kiln.output: records [key, value] while recording. */
int32_t kiln_output_raw(const char *key, int32_t key_len, double value) {
  kiln_stub_outputs++;
  if (recording) {
    record_key(key, key_len);
    fprintf(recording, ",%.17g]", value);
  }
  return KILN_OK;
}

/* Stub of kiln.output_array: records [key, [values...]] while recording. */
int32_t kiln_output_array_raw(const char *key, int32_t key_len, const float *data, int32_t count) {
  kiln_stub_arrays++;
  if (count < 0 || count > KILN_MAX_ARRAY) return KILN_EINVAL;
  if (recording) {
    record_key(key, key_len);
    fputs(",[", recording);
    for (int32_t i = 0; i < count; i++) fprintf(recording, "%s%.9g", i ? "," : "", (double)data[i]);
    fputs("]]", recording);
  }
  return KILN_OK;
}

/* Stub of kiln.alert: counts it. */
int32_t kiln_alert_raw(int32_t severity, const char *ptr, int32_t len) {
  (void)severity, (void)ptr, (void)len;
  kiln_stub_alerts++;
  return KILN_OK;
}

/* Stub of kiln.gpio_read: not granted. */
int32_t kiln_gpio_read(int32_t pin) {
  (void)pin;
  return KILN_EDENIED;
}

/* Stub of kiln.gpio_write: not granted. */
int32_t kiln_gpio_write(int32_t pin, int32_t value) {
  (void)pin, (void)value;
  return KILN_EDENIED;
}

/* Stub of kiln.publish: not granted. */
int32_t kiln_publish_raw(const char *topic, int32_t topic_len, const void *payload, int32_t payload_len) {
  (void)topic, (void)topic_len, (void)payload, (void)payload_len;
  return KILN_EDENIED;
}

/* Stub of kiln.channel_write: no channel is configured, as for the Wasm instance the benchmark runs. */
int32_t kiln_channel_write(int32_t index, const void *ptr, int32_t len) {
  (void)index, (void)ptr, (void)len;
  return KILN_ENOENT;
}
