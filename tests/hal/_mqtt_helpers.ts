/**
 * What the MQTT connector's tests share (`mqtt_pubsub_test.ts`, `mqtt_connect_test.ts`,
 * `mqtt_reconnect_test.ts`): byte helpers, fast reconnect options, and a wait for a connection.
 *
 * @module
 */
import type { MqttConnector } from "../../hal/mqtt/mod.ts";
import { until } from "./_mosquitto.ts";

/** UTF-8 bytes of `s`. */
export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
/** `b` decoded as UTF-8. */
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Reconnect quickly: these tests wait for reconnects and should not wait long. */
export const FAST = { reconnect: { initialMs: 20, maxMs: 200 }, connectTimeoutMs: 3_000 } as const;

/** Waits until `mqtt` is connected (bounded by `until`'s timeout). */
export async function connected(mqtt: MqttConnector): Promise<void> {
  await until(() => `"${mqtt.name}" to connect (${JSON.stringify(mqtt.status())})`, () => mqtt.connected);
}
