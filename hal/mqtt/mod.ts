/**
 * The MQTT driver: a connector to an MQTT 3.1.1 broker (Mosquitto in real deployments) over TCP or TLS with
 * client certificates, that implements {@linkcode Publisher} for the outbox, delivers subscribed messages to
 * handlers, reconnects by itself with capped, jittered exponential backoff, and reports its state as a
 * {@linkcode ConnectorStatus}. Topic templates (`factory/{device}/{module}/telemetry`) name a stream's topic.
 * For the demo, {@linkcode startEmbeddedBroker} runs a broker inside Kiln (`npm:aedes`) so nothing needs
 * installing; real deployments point the connector at Mosquitto.
 *
 * `publish` never queues: it rejects at once when the link is down, and a QoS 1/2 message in flight when the
 * link drops rejects too, so the outbox resends it (at least once; receivers deduplicate by sequence number).
 *
 * Deno permissions: `--allow-net` to the broker, `--allow-read` for TLS files named in the options, and
 * `--allow-env` without a list: `npm:mqtt`'s dependencies `debug` and `readable-stream` read the environment
 * (all of it, for `debug`) when loaded, and mqtt.js reads `MQTTJS_SOCKS_PROXY` at every connect.
 *
 * @example Publish telemetry and take commands
 * ```ts ignore
 * import { createMqttConnector, parseTopicTemplate } from "./mod.ts";
 *
 * await using mqtt = createMqttConnector("plant", {
 *   url: "mqtts://broker.plant.local:8883",
 *   clientId: "gw-01",
 *   tls: { caFile: "ca.crt", certFile: "gw-01.crt", keyFile: "gw-01.key" },
 *   will: { topic: "factory/gw-01/status", payload: "offline", qos: 1, retain: true },
 *   reconnect: { initialMs: 500, maxMs: 30_000 },
 * });
 * await mqtt.subscribe("factory/gw-01/cmd/#", (topic, payload) => {
 *   console.log(topic, new TextDecoder().decode(payload));
 * });
 * const telemetry = parseTopicTemplate("factory/{device}/{module}/telemetry");
 * const topic = telemetry.expand({ device: "gw-01", module: "fft" });
 * if (mqtt.connected) await mqtt.publish(topic, new TextEncoder().encode("{\"rms\":0.4}"), { qos: 1 });
 * console.log(mqtt.status()); // { name: "plant", kind: "mqtt", state: "connected", ... }
 * ```
 *
 * @module
 */
export {
  backoffDelayMs,
  type BackoffOptions,
  createMqttConnector,
  type MessageHandler,
  type MessageInfo,
  type MqttConnector,
  type MqttConnectorOptions,
  type MqttReconnectOptions,
  type MqttTlsOptions,
  type MqttWill,
  type Qos,
  type SubscribeOptions,
} from "./connector.ts";
export {
  EMBEDDED_CREDENTIALS_FILE,
  type EmbeddedBroker,
  type EmbeddedBrokerCredentials,
  type EmbeddedBrokerOptions,
  generateEmbeddedCredentials,
  loadBroker,
  startEmbeddedBroker,
} from "./embedded.ts";
export {
  EmbeddedBrokerError,
  EmbeddedCredentialsError,
  MqttConnectionLostError,
  MqttConnectRefusedError,
  MqttHandlerError,
  MqttNotConnectedError,
  MqttProtocolError,
  MqttSubscribeError,
  MqttTimeoutError,
  MqttTlsError,
  MqttTopicError,
  MqttTransportError,
  TopicTemplateError,
} from "./errors.ts";
export {
  expandTopic,
  parseTopicTemplate,
  TOPIC_PLACEHOLDERS,
  topicMatches,
  type TopicTemplate,
  type TopicTemplateOptions,
  validateTopicFilter,
  validateTopicName,
} from "./topics.ts";
