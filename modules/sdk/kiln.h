/*
 * kiln.h - C SDK of the Kiln module ABI, version 1 (modules/ABI.md is the contract; this header follows it).
 *
 * Build a module with Debian's clang-19, freestanding:
 *   clang-19 --target=wasm32 -O2 -nostdlib -ffreestanding -mbulk-memory -Wl,--no-entry \
 *     -I modules/sdk module.c modules/sdk/kiln_rt.c -o module.wasm
 * kiln_rt.c provides the exports every module needs: kiln_abi_version and kiln_alloc (a bump allocator).
 * The module defines its handlers with KILN_EXPORT, e.g.
 *   KILN_EXPORT(kiln_on_tick) int32_t kiln_on_tick(int64_t now_us) { ... }
 */
#ifndef KILN_H
#define KILN_H

#include <stddef.h>
#include <stdint.h>

#define KILN_ABI_VERSION 1

/* Status codes host functions return (modules/ABI.md, "Error codes"). */
#define KILN_OK 0
#define KILN_EFAULT (-1)  /* bad pointer or length */
#define KILN_ENOENT (-2)  /* unknown name or index */
#define KILN_EDENIED (-3) /* capability not granted */
#define KILN_ELIMIT (-4)  /* rate or size limit */
#define KILN_EINVAL (-5)  /* invalid argument */

/* Log levels of kiln_log. */
#define KILN_LOG_DEBUG 0
#define KILN_LOG_INFO 1
#define KILN_LOG_WARN 2
#define KILN_LOG_ERROR 3

/* Alert severities of kiln_alert. */
#define KILN_ALERT_WARNING 1
#define KILN_ALERT_CRITICAL 2

/* Input qualities in kiln_input_t.quality. */
#define KILN_QUALITY_GOOD 0u
#define KILN_QUALITY_UNCERTAIN 1u
#define KILN_QUALITY_BAD 2u

/* Event kinds of kiln_on_event. */
#define KILN_EVENT_API 1     /* payload: the HTTP request body */
#define KILN_EVENT_GPIO 2    /* payload: u32 pin, u32 level */
#define KILN_EVENT_CHANNEL 3 /* payload: one channel record */
#define KILN_EVENT_MQTT 4    /* payload: the MQTT message's payload */

/* The largest event payload the host hands over (its event buffer). */
#define KILN_MAX_EVENT_BYTES 4096

/* At most this many values per kiln_output_array call. */
#define KILN_MAX_ARRAY 4096

/* The 16 bytes kiln_input writes: f64 value, u32 quality, u32 age_ms (little-endian, no padding). */
typedef struct kiln_input {
  double value;
  uint32_t quality;
  uint32_t age_ms;
} kiln_input_t;
_Static_assert(sizeof(kiln_input_t) == 16, "kiln_input_t must be 16 bytes");

/* Exports a function under `name` (the ABI's exports, and kernels a benchmark calls). */
#define KILN_EXPORT(name) __attribute__((export_name(#name)))
#define KILN_IMPORT(name) __attribute__((import_module("kiln"), import_name(#name)))

/* ---- Host imports (namespace "kiln"); strings are UTF-8, not NUL-terminated ----------------------------- */

/* Logs a message; level 0 debug, 1 info, 2 warn, 3 error. Cut at 1024 bytes, rate-limited. */
KILN_IMPORT(log) int32_t kiln_log(int32_t level, const char *ptr, int32_t len);
/* Microseconds on the runtime's monotonic clock. */
KILN_IMPORT(now_us) int64_t kiln_now_us(void);
/* The manifest's params.<key>, or `fallback`. Reserved: kiln.sample_rate_hz, kiln.full_scale, kiln.window,
 * kiln.hop, kiln.period_us. */
KILN_IMPORT(param_f64) double kiln_param_f64(const char *key, int32_t key_len, double fallback);
/* Pointer of data blob `name` (its length at *out_len), or NULL when there is none. */
KILN_IMPORT(data) const uint8_t *kiln_data(const char *name, int32_t name_len, int32_t *out_len);
/* The latest value of inputs[index]: KILN_OK, or KILN_ENOENT for an unknown index. */
KILN_IMPORT(input) int32_t kiln_input(int32_t index, kiln_input_t *out);
/* Publishes a named scalar result. */
KILN_IMPORT(output) int32_t kiln_output_raw(const char *key, int32_t key_len, double value);
/* Publishes a named vector of `count` f32 values (at most KILN_MAX_ARRAY). */
KILN_IMPORT(output_array)
int32_t kiln_output_array_raw(const char *key, int32_t key_len, const float *data, int32_t count);
/* Raises an alert: severity 1 warning, 2 critical. */
KILN_IMPORT(alert) int32_t kiln_alert_raw(int32_t severity, const char *ptr, int32_t len);

/* ---- Gated host imports: linked only with a granted capability of their class (modules/ABI.md) ----------- */

/* The level (0 or 1) of GPIO `pin`; class read:gpio:*, needs read:gpio:pin_<pin>. */
KILN_IMPORT(gpio_read) int32_t kiln_gpio_read(int32_t pin);
/* Sets GPIO `pin` (non-zero is high), carried out right after the call; class write:gpio:*, needs
 * write:gpio:pin_<pin>. */
KILN_IMPORT(gpio_write) int32_t kiln_gpio_write(int32_t pin, int32_t value);
/* Queues an MQTT message; class write:mqtt:*, needs a write:mqtt:<filter> grant matching the topic. */
KILN_IMPORT(publish)
int32_t kiln_publish_raw(const char *topic, int32_t topic_len, const void *payload, int32_t payload_len);
/* Writes one record of `len` bytes to the module's `index`-th channel (counting the channels this module
 * writes, in manifest order); class write:channel:*, needs write:channel:<id>. KILN_OK, KILN_ENOENT (no such
 * channel), KILN_ELIMIT (dropped by the channel's overflow policy), KILN_EINVAL (larger than the channel
 * allows), KILN_EFAULT, KILN_EDENIED. */
KILN_IMPORT(channel_write) int32_t kiln_channel_write(int32_t index, const void *ptr, int32_t len);
/* Drives the module's index-th actuator (manifest `actuators`) to value; carried out after the call. */
KILN_IMPORT(actuate) int32_t kiln_actuate(int32_t index, double value);

/* ---- Handlers a module may define, with these signatures (modules/ABI.md, "Exports") ---------------------- */
/* Each is defined with KILN_EXPORT(name); a handler returns KILN_OK, or a status counted in the module's
 * errors. The host passes its own buffers (from kiln_alloc), valid for the call. */

int32_t kiln_init(void);
int32_t kiln_on_samples(const int16_t *samples, int32_t count);
int32_t kiln_on_record(const uint8_t *record, int32_t len);
int32_t kiln_on_tick(int64_t now_us);
int32_t kiln_on_event(int32_t kind, const uint8_t *payload, int32_t len);

/* ---- Exports the SDK runtime (kiln_rt.c) defines ---------------------------------------------------------- */

/* Returns KILN_ABI_VERSION. */
int32_t kiln_abi_version(void);
/* Bump allocator over the heap: `size` bytes, 16-byte aligned, never reused; NULL when memory cannot grow. */
void *kiln_alloc(int32_t size);

/* ---- Helpers taking C strings ------------------------------------------------------------------------------ */

static inline int32_t kiln_strlen(const char *s) {
  int32_t n = 0;
  while (s[n]) n++;
  return n;
}

static inline int32_t kiln_log_str(int32_t level, const char *msg) {
  return kiln_log(level, msg, kiln_strlen(msg));
}

static inline double kiln_param(const char *key, double fallback) {
  return kiln_param_f64(key, kiln_strlen(key), fallback);
}

static inline const uint8_t *kiln_data_str(const char *name, int32_t *out_len) {
  return kiln_data(name, kiln_strlen(name), out_len);
}

static inline int32_t kiln_output(const char *key, double value) {
  return kiln_output_raw(key, kiln_strlen(key), value);
}

static inline int32_t kiln_output_array(const char *key, const float *data, int32_t count) {
  return kiln_output_array_raw(key, kiln_strlen(key), data, count);
}

static inline int32_t kiln_alert(int32_t severity, const char *msg) {
  return kiln_alert_raw(severity, msg, kiln_strlen(msg));
}

static inline int32_t kiln_publish(const char *topic, const char *payload) {
  return kiln_publish_raw(topic, kiln_strlen(topic), payload, kiln_strlen(payload));
}

/* Queues an MQTT message of `len` payload bytes on a C-string topic. */
static inline int32_t kiln_publish_bytes(const char *topic, const void *payload, int32_t len) {
  return kiln_publish_raw(topic, kiln_strlen(topic), payload, len);
}

/* ---- Reading handler arguments ------------------------------------------------------------------------------ */

/* The pin and level of a KILN_EVENT_GPIO payload (8 bytes, little-endian); KILN_EINVAL for another length. */
static inline int32_t kiln_gpio_event(const uint8_t *payload, int32_t len, uint32_t *pin, uint32_t *level) {
  if (len != 8) return KILN_EINVAL;
  *pin = (uint32_t)payload[0] | (uint32_t)payload[1] << 8 | (uint32_t)payload[2] << 16 |
         (uint32_t)payload[3] << 24;
  *level = (uint32_t)payload[4] | (uint32_t)payload[5] << 8 | (uint32_t)payload[6] << 16 |
           (uint32_t)payload[7] << 24;
  return KILN_OK;
}

/* Logs `msg` at error level, then traps: the module moves to `crashed` and its restart policy applies (the
 * C counterpart of a Rust panic and of AssemblyScript's abort). */
static inline _Noreturn void kiln_fail(const char *msg) {
  kiln_log_str(KILN_LOG_ERROR, msg);
  __builtin_trap();
}

/* ---- A tiny message builder (no libc): kiln_msg_t m = {0}; kiln_msg_str(&m, "t="); kiln_msg_f64(&m, t, 1); */

typedef struct kiln_msg {
  char text[256];
  int32_t len;
} kiln_msg_t;

static inline void kiln_msg_str(kiln_msg_t *m, const char *s) {
  while (*s && m->len < (int32_t)sizeof m->text - 1) m->text[m->len++] = *s++;
  m->text[m->len] = 0;
}

/* Appends `v` with `decimals` digits after the point (0 to 6); NaN and huge values print as "nan" / "inf". */
static inline void kiln_msg_f64(kiln_msg_t *m, double v, int32_t decimals) {
  char digits[24];
  int32_t n = 0;
  if (v != v) {
    kiln_msg_str(m, "nan");
    return;
  }
  if (v < 0) {
    kiln_msg_str(m, "-");
    v = -v;
  }
  if (v > 1e15) {
    kiln_msg_str(m, "inf");
    return;
  }
  double scale = 1;
  for (int32_t i = 0; i < decimals; i++) scale *= 10;
  uint64_t fixed = (uint64_t)(v * scale + 0.5);
  int32_t place = 0;
  do {
    if (place == decimals && decimals > 0) digits[n++] = '.';
    digits[n++] = (char)('0' + fixed % 10);
    fixed /= 10;
    place++;
  } while (fixed > 0 || place <= decimals);
  while (n > 0 && m->len < (int32_t)sizeof m->text - 1) m->text[m->len++] = digits[--n];
  m->text[m->len] = 0;
}

#endif /* KILN_H */
