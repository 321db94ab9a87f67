/*
 * safety.c - emergency stop (event mode). Triggered by a channel of trip records (sdk/records.h) that the
 * temperature module writes when the temperature crosses its trip limit: drives the emergency-stop output (a
 * GPIO pin) high and raises a critical alert. An API event resets it.
 *
 * Params: estop_pin (GPIO pin, 0..1023, default 8).
 * Capabilities: read:channel:<id> for its trigger, write:gpio:pin_<estop_pin>.
 * Events:
 *   3 channel record: a 24-byte trip record; anything else returns KILN_EINVAL. Sets the pin high, raises
 *     "Emergency stop: temperature 87.3 °C above trip 85.0 °C", outputs estop 1 and trips (count). When the
 *     pin cannot be written, the alert says the stop FAILED and the handler returns gpio_write's error.
 *   1 API: the body "0" (whitespace around it allowed) or any body containing "reset" (e.g.
 *     {"action":"reset"}) sets the pin low and outputs estop 0; another body returns KILN_EINVAL.
 *   2 GPIO edge: ignored.
 * State is not persisted: a restarted module reports nothing until the next event and leaves the pin as it
 * is, so a restart never releases an emergency stop.
 */
#include "kiln.h"
#include "records.h"

static int32_t estop_pin = 8;
static double trips = 0;

KILN_EXPORT(kiln_init) int32_t kiln_init(void) {
  double pin = kiln_param("estop_pin", 8);
  if (!(pin >= 0 && pin <= 1023) || pin != (double)(int32_t)pin) {
    kiln_log_str(KILN_LOG_ERROR, "Cannot start: estop_pin must be a whole number from 0 to 1023");
    return KILN_EINVAL;
  }
  estop_pin = (int32_t)pin;
  return KILN_OK;
}

static int32_t on_trip(const uint8_t *payload, int32_t len) {
  if (len != (int32_t)sizeof(kiln_trip_record_t)) return KILN_EINVAL;
  kiln_trip_record_t rec;
  __builtin_memcpy(&rec, payload, sizeof rec);
  int32_t rc = kiln_gpio_write(estop_pin, 1);
  trips++;
  kiln_msg_t m = {0};
  if (rc == KILN_OK) {
    kiln_msg_str(&m, "Emergency stop: temperature ");
  } else {
    kiln_msg_str(&m, "Emergency stop FAILED (gpio_write of pin ");
    kiln_msg_f64(&m, estop_pin, 0);
    kiln_msg_str(&m, " returned ");
    kiln_msg_f64(&m, rc, 0);
    kiln_msg_str(&m, "): temperature ");
  }
  kiln_msg_f64(&m, rec.temperature_c, 1);
  kiln_msg_str(&m, " °C above trip ");
  kiln_msg_f64(&m, rec.trip_c, 1);
  kiln_msg_str(&m, " °C");
  kiln_alert_raw(KILN_ALERT_CRITICAL, m.text, m.len);
  if (rc == KILN_OK) kiln_output("estop", 1);
  kiln_output("trips", trips);
  return rc;
}

static int32_t is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* True when the body is "0" (with optional whitespace) or contains "reset". */
static int32_t is_reset(const uint8_t *body, int32_t len) {
  static const char word[] = "reset";
  for (int32_t i = 0; i + 5 <= len; i++) {
    int32_t k = 0;
    while (k < 5 && body[i + k] == (uint8_t)word[k]) k++;
    if (k == 5) return 1;
  }
  int32_t a = 0, b = len;
  while (a < b && is_space(body[a])) a++;
  while (b > a && is_space(body[b - 1])) b--;
  return b - a == 1 && body[a] == '0';
}

static int32_t on_api(const uint8_t *body, int32_t len) {
  if (!is_reset(body, len)) {
    kiln_log_str(KILN_LOG_WARN, "Ignored an API event: send \"0\" or {\"action\":\"reset\"} to reset the stop");
    return KILN_EINVAL;
  }
  int32_t rc = kiln_gpio_write(estop_pin, 0);
  if (rc != KILN_OK) {
    kiln_msg_t m = {0};
    kiln_msg_str(&m, "Cannot reset the emergency stop: gpio_write returned ");
    kiln_msg_f64(&m, rc, 0);
    kiln_log(KILN_LOG_ERROR, m.text, m.len);
    return rc;
  }
  kiln_log_str(KILN_LOG_INFO, "Emergency stop reset");
  kiln_output("estop", 0);
  return KILN_OK;
}

KILN_EXPORT(kiln_on_event) int32_t kiln_on_event(int32_t kind, const uint8_t *payload, int32_t len) {
  switch (kind) {
    case KILN_EVENT_CHANNEL:
      return on_trip(payload, len);
    case KILN_EVENT_API:
      return on_api(payload, len);
    case KILN_EVENT_GPIO:
      return KILN_OK;
    default:
      return KILN_EINVAL;
  }
}
