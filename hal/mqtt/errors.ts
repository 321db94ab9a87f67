/**
 * Errors of the MQTT connector. Each has a stable `code` and the fields a caller needs to act on it, so the
 * outbox, the runtime and the API tell them apart without reading messages.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";

/**
 * A publish was refused because the connector has no live connection to the broker. Raised at once, never
 * after a wait: the caller keeps the message (in the outbox) and tries again later.
 */
export class MqttNotConnectedError extends KilnError {
  readonly code = "mqtt_not_connected";
  readonly kind = "unavailable";
  /** The connector's name. */
  readonly connector: string;
  /** The connector's state when the publish was refused. */
  readonly state: string;

  constructor(connector: string, state: string, options?: ErrorOptions) {
    super(`Cannot publish on MQTT connector "${connector}": not connected (state "${state}")`, options);
    this.connector = connector;
    this.state = state;
  }
}

/**
 * The connection dropped (or the connector was closed) while a QoS 1 or 2 publish waited for its PUBACK or
 * PUBCOMP, so delivery is unknown. The message is not resent by the connector: the caller resends it from its
 * outbox, and the receiver deduplicates (at-least-once).
 */
export class MqttConnectionLostError extends KilnError {
  readonly code = "mqtt_connection_lost";
  readonly kind = "failed";
  readonly connector: string;
  readonly topic: string;

  constructor(connector: string, topic: string, options?: ErrorOptions) {
    super(
      `Cannot confirm MQTT publish to "${topic}" on connector "${connector}": the connection was lost first`,
      options,
    );
    this.connector = connector;
    this.topic = topic;
  }
}

/** Reasons in an MQTT 3.1.1 CONNACK's return code (§3.2.2.3). */
const CONNACK_REASONS: Readonly<Record<number, string>> = {
  1: "unacceptable protocol version",
  2: "client identifier rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorized",
};

/** The broker answered CONNECT with a non-zero CONNACK return code (MQTT 3.1.1 §3.2.2.3). */
export class MqttConnectRefusedError extends KilnError {
  readonly code = "mqtt_connect_refused";
  readonly kind = "failed";
  readonly connector: string;
  /** The CONNACK return code: 1 to 5 in MQTT 3.1.1. */
  readonly returnCode: number;

  constructor(connector: string, returnCode: number, options?: ErrorOptions) {
    const reason = CONNACK_REASONS[returnCode] ?? `return code ${returnCode}`;
    super(`MQTT broker refused connector "${connector}": ${reason} (CONNACK ${returnCode})`, options);
    this.connector = connector;
    this.returnCode = returnCode;
  }

  /** True when retrying with the same settings cannot help: everything but "server unavailable" (3). */
  get permanent(): boolean {
    return this.returnCode !== 3;
  }
}

/** The broker did not answer in time: no CONNACK within the connect timeout, or no PINGRESP (keepalive). */
export class MqttTimeoutError extends KilnError {
  readonly code = "mqtt_timeout";
  readonly kind = "timeout";
  readonly connector: string;
  /** What timed out: `"connect"` or `"keepalive"`. */
  readonly phase: "connect" | "keepalive";
  /** The limit that passed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(connector: string, phase: "connect" | "keepalive", timeoutMs: number, options?: ErrorOptions) {
    const what = phase === "connect" ? "no CONNACK" : "no answer to keepalive pings";
    super(`MQTT connector "${connector}" timed out: ${what} within ${timeoutMs} ms`, options);
    this.connector = connector;
    this.phase = phase;
    this.timeoutMs = timeoutMs;
  }
}

/** The peer sent bytes that are not valid MQTT (a wrong port, a proxy's error page, a broken broker). */
export class MqttProtocolError extends KilnError {
  readonly code = "mqtt_protocol_error";
  readonly kind = "failed";
  readonly connector: string;

  constructor(connector: string, detail: string, options?: ErrorOptions) {
    super(`MQTT connector "${connector}" received invalid data from the broker: ${detail}`, options);
    this.connector = connector;
  }
}

/** The network or TLS layer failed: refused, reset, unreachable, certificate rejected, closed by the peer. */
export class MqttTransportError extends KilnError {
  readonly code = "mqtt_transport_error";
  readonly kind = "failed";
  readonly connector: string;
  /** The system or TLS error code when there is one (`"ECONNREFUSED"`, ...), else `null`. */
  readonly transportCode: string | null;

  constructor(connector: string, detail: string, transportCode: string | null, options?: ErrorOptions) {
    super(`MQTT connector "${connector}" lost its connection: ${detail}`, options);
    this.connector = connector;
    this.transportCode = transportCode;
  }
}

/**
 * TLS could not be set up: a certificate or key file is unreadable, the broker's certificate does not verify,
 * or the broker refused the handshake (e.g. no client certificate where one is required).
 */
export class MqttTlsError extends KilnError {
  readonly code = "mqtt_tls_failed";
  readonly kind = "failed";
  readonly connector: string;
  /** The file that could not be read, or `null` when the handshake failed. */
  readonly file: string | null;

  constructor(connector: string, file: string | null, detail: string, options?: ErrorOptions) {
    super(`MQTT connector "${connector}" cannot set up TLS: ${detail}`, options);
    this.connector = connector;
    this.file = file;
  }
}

/** The broker refused a subscription (SUBACK return code 0x80, MQTT 3.1.1 §3.9.3). */
export class MqttSubscribeError extends KilnError {
  readonly code = "mqtt_subscribe_refused";
  readonly kind = "failed";
  readonly connector: string;
  readonly filter: string;

  constructor(connector: string, filter: string, options?: ErrorOptions) {
    super(`MQTT broker refused the subscription "${filter}" of connector "${connector}"`, options);
    this.connector = connector;
    this.filter = filter;
  }
}

/** A subscription's handler threw; reported, and the connector carries on. */
export class MqttHandlerError extends KilnError {
  readonly code = "mqtt_handler_failed";
  readonly kind = "failed";
  readonly filter: string;
  readonly topic: string;

  constructor(filter: string, topic: string, options?: ErrorOptions) {
    const detail = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super(`Handler of MQTT subscription "${filter}" failed on a message to "${topic}"${detail}`, options);
    this.filter = filter;
    this.topic = topic;
  }
}

/** A topic name or filter breaks MQTT 3.1.1's rules (§4.7). */
export class MqttTopicError extends KilnError {
  readonly code = "mqtt_topic_invalid";
  readonly kind = "invalid";
  readonly topic: string;
  /** What is wrong, e.g. `a topic name must not contain "+" or "#"`. */
  readonly reason: string;

  constructor(topic: string, reason: string, options?: ErrorOptions) {
    super(`Invalid MQTT topic "${topic}": ${reason}`, options);
    this.topic = topic;
    this.reason = reason;
  }
}

/** A topic template is malformed, or expanding it failed (missing or unusable placeholder value). */
export class TopicTemplateError extends KilnError {
  readonly code = "mqtt_topic_template_invalid";
  readonly kind = "invalid";
  readonly template: string;
  /** The placeholder at fault, without braces, or `null` when the fault is elsewhere. */
  readonly placeholder: string | null;
  readonly reason: string;

  constructor(template: string, placeholder: string | null, reason: string, options?: ErrorOptions) {
    super(`Invalid MQTT topic template "${template}": ${reason}`, options);
    this.template = template;
    this.placeholder = placeholder;
    this.reason = reason;
  }
}

/** The embedded broker could not listen (the port is taken, the address is not this machine's, ...). */
export class EmbeddedBrokerError extends KilnError {
  readonly code = "mqtt_embedded_listen_failed";
  readonly kind = "unavailable";
  readonly hostname: string;
  readonly port: number;

  constructor(hostname: string, port: number, detail: string, options?: ErrorOptions) {
    super(`Cannot start the embedded MQTT broker on ${hostname}:${port}: ${detail}`, options);
    this.hostname = hostname;
    this.port = port;
  }
}

/** The embedded broker's credentials file exists but does not hold usable credentials. */
export class EmbeddedCredentialsError extends KilnError {
  readonly code = "mqtt_embedded_credentials_invalid";
  readonly kind = "invalid";
  /** The file. */
  readonly path: string;
  readonly reason: string;

  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(
      `Cannot use the embedded MQTT broker's credentials in "${path}": ${reason} ` +
        "(delete the file and Kiln makes new ones at its next start)",
      options,
    );
    this.path = path;
    this.reason = reason;
  }
}
