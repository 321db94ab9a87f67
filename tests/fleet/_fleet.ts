/**
 * Helpers of the fleet tests: an MQTT client (the `mqtt` package, as a controller would use) that publishes
 * desired states retained and keeps the last reported state of a device.
 *
 * @module
 */
import mqtt from "mqtt";
import { waitFor } from "../_helpers.ts";
import type { ReportedState } from "../../runtime/fleet/mod.ts";
import { mintPki, tempDir, type TestPki } from "../signing/_pki.ts";
import { createMosquitto } from "../hal/_mosquitto.ts";
import { startRegistry } from "../registry/_registry.ts";

/** What a fleet test runs beside its gateways: a plant PKI, a Distribution registry and a Mosquitto. */
export interface FleetPeers extends AsyncDisposable {
  dir: string;
  pki: TestPki;
  registry: Awaited<ReturnType<typeof startRegistry>>;
  broker: Awaited<ReturnType<typeof createMosquitto>>;
  /** The registry's `host:port`. */
  host: string;
}

/** Mints a PKI and starts a registry and a broker in a temporary folder; disposing stops and removes them. */
export async function fleetPeers(prefix: string): Promise<FleetPeers> {
  const tmp = await tempDir(prefix);
  const dir = tmp.path;
  const pki = await mintPki(`${dir}/pki`, { name: "Plant" });
  await Deno.mkdir(`${dir}/registry`);
  const registry = await startRegistry(`${dir}/registry`);
  const broker = await createMosquitto(dir);
  await broker.start();
  return {
    dir,
    pki,
    registry,
    broker,
    host: registry.host,
    async [Symbol.asyncDispose]() {
      await broker[Symbol.asyncDispose]();
      await registry[Symbol.asyncDispose]();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

/** A controller's side of the broker, for a test. */
export interface TestController extends AsyncDisposable {
  /** Publishes `doc` (JSON, or raw text) retained on `topic`, QoS 1. */
  publish(topic: string, doc: unknown): Promise<void>;
  /** The last reported state received, or null. */
  last(): ReportedState | null;
  /** Waits (at most `timeoutMs`) for a reported state for which `check` returns true; returns it. */
  until(what: string, check: (r: ReportedState) => boolean, timeoutMs?: number): Promise<ReportedState>;
}

/** Connects to `url` and subscribes to `reportedTopic`. */
export async function connectController(url: string, reportedTopic: string): Promise<TestController> {
  const client = await mqtt.connectAsync(url, { connectTimeout: 10_000, reconnectPeriod: 500 });
  let last: ReportedState | null = null;
  client.on("message", (_topic, payload) => {
    last = JSON.parse(new TextDecoder().decode(payload)) as ReportedState;
  });
  await client.subscribeAsync(reportedTopic, { qos: 1 });
  return {
    async publish(topic, doc) {
      const text = typeof doc === "string" ? doc : JSON.stringify(doc);
      await client.publishAsync(topic, text, { qos: 1, retain: true });
    },
    last: () => last,
    until(what, check, timeoutMs = 60_000) {
      return waitFor(what, () => (last !== null && check(last) ? last : null), timeoutMs).catch((err) => {
        throw new Error(`${(err as Error).message}; last reported: ${JSON.stringify(last)}`);
      });
    },
    async [Symbol.asyncDispose]() {
      await client.endAsync(true);
    },
  };
}
