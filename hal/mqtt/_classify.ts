/**
 * How the MQTT connector tells mqtt.js's errors apart: each error mqtt.js emits is mapped onto one of this
 * driver's error classes, so that the connector's state (a permanent refusal or TLS failure is `error`, the
 * rest `reconnecting`) and its status report never depend on mqtt.js's wording.
 *
 * @module
 */
import {
  MqttConnectRefusedError,
  MqttProtocolError,
  MqttTimeoutError,
  MqttTlsError,
  MqttTransportError,
} from "./errors.ts";
import type { Settings } from "./options.ts";

/** Whose error {@linkcode classifyError} maps. */
export interface ClassifyContext {
  /** The connector's name, for the error. */
  readonly connector: string;
  /** The connector's checked settings: the broker's host and the timeouts the errors report. */
  readonly settings: Settings;
}

/**
 * Maps an mqtt.js error onto this connector's error classes. mqtt.js gives a CONNACK refusal a numeric
 * `code`, a socket error a string `code` (`ECONNREFUSED`), and everything else only a message, so this is
 * the one place that reads message text.
 */
export function classifyError(err: Error, context: ClassifyContext): Error {
  const { connector, settings: s } = context;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "number" && code >= 1 && code <= 5) {
    return new MqttConnectRefusedError(connector, code, { cause: err });
  }
  if (err.message === "Keepalive timeout") {
    return new MqttTimeoutError(connector, "keepalive", Math.ceil(s.keepaliveS * 1500), {
      cause: err,
    });
  }
  if (err.message === "connack timeout") {
    return new MqttTimeoutError(connector, "connect", s.connectTimeoutMs + 1000, { cause: err });
  }
  if (isTlsFailure(err)) return new MqttTlsError(connector, null, err.message, { cause: err });
  if (typeof code === "string") {
    return new MqttTransportError(connector, `${err.message} (${s.url.host})`, code, { cause: err });
  }
  // What is left comes from mqtt-packet's parser: bytes that are not MQTT.
  return new MqttProtocolError(connector, err.message, { cause: err });
}

/**
 * True for a TLS handshake or certificate failure, which retrying cannot fix without a configuration change.
 * Node's TLS layer names them by code: `ERR_SSL_*` and `ERR_TLS_*` for handshake alerts (e.g.
 * `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED` when the broker wants a client certificate), OpenSSL's verify
 * codes (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `CERT_HAS_EXPIRED`, `DEPTH_ZERO_SELF_SIGNED_CERT`, ...) for a
 * broker certificate that does not verify; mqtt.js reports an unauthorized peer as "TLS not authorized".
 */
function isTlsFailure(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") return /^ERR_(SSL|TLS)_|CERT|^UNABLE_TO_/.test(code);
  return err.message === "TLS not authorized";
}
