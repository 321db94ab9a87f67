/**
 * The fleet benchmark's broker: a real Mosquitto on a free loopback port, with a configuration written for
 * thousands of clients ({@linkcode BROKER_SETTINGS}), and a monitor connection that reads its `$SYS` counters
 * every second.
 *
 * @module
 */
import mqtt, { type MqttClient } from "mqtt";
import { freePort } from "../../tests/hal/_mosquitto.ts";
import { type Child, openFilesLimit, spawn } from "./_procs.ts";

/**
 * The settings the bench raises from Mosquitto's defaults, and why (reported in `fleet.json`).
 * - `max_connections -1`: no broker-side cap (the default, written down); the real cap is the process's open
 *   files limit, reported beside it.
 * - `max_queued_messages 200000` (default 1000): QoS 1 messages queued for one client whose in-flight window
 *   is full. The controller receives every device's reports on one connection; with the default, a burst
 *   of 10,000 reports while it steps would be dropped beyond 1,000 (`$SYS/broker/publish/messages/dropped`).
 * - `max_inflight_messages 1000` (default 20): QoS 1 messages sent to one client before its PUBACKs. The
 *   controller handles every message that arrived before it steps; with 20 in flight it stepped once per
 *   20 reports at most, which at 10,000 devices (a step reads every device: about 0.3 s) cannot keep up
 *   with a report every 10 s from each.
 * - `sys_interval 1` (default 10): `$SYS` counters every second.
 */
export const BROKER_SETTINGS: readonly string[] = [
  "max_connections -1",
  "max_inflight_messages 1000",
  "max_queued_messages 200000",
  "max_queued_bytes 0",
  "sys_interval 1",
  "persistence false",
  "set_tcp_nodelay true",
];

/** One `$SYS` reading. */
export interface SysSample {
  /** ms since the epoch, when it arrived. */
  readonly atMs: number;
  readonly received: number;
  readonly sent: number;
  readonly dropped: number;
  readonly clients: number;
}

/** A running Mosquitto and its monitor. */
export interface Broker extends AsyncDisposable {
  readonly url: string;
  readonly pid: number;
  /** Its open files limit (`/proc/<pid>/limits`), or null. */
  readonly openFilesLimit: number | null;
  /** Every `$SYS` reading so far, one a second. */
  readonly samples: readonly SysSample[];
  /** The latest reading, or null before the first. */
  latest(): SysSample | null;
  tail(): string;
  /** Stops the monitor and the broker (bounded). */
  stop(): Promise<void>;
}

/**
 * Writes the configuration in `dir` and starts Mosquitto; resolves once the monitor is connected and has
 * a first `$SYS` reading.
 *
 * @throws {Error} when Mosquitto exits or the monitor cannot connect within 15 s.
 */
export async function startBroker(dir: string, lifetimeMs: number): Promise<Broker> {
  const port = freePort();
  const conf = `${dir}/mosquitto.conf`;
  const lines = [
    `listener ${port} 127.0.0.1`,
    "allow_anonymous true",
    ...BROKER_SETTINGS,
    "log_dest stderr",
    "log_type error",
    "log_type warning",
  ];
  // Mosquitto started as root switches to the user "mosquitto", which cannot read a private temp directory.
  if (Deno.uid() === 0) lines.push("user root");
  await Deno.writeTextFile(conf, lines.join("\n") + "\n");
  const child: Child = spawn("mosquitto", "mosquitto", ["-c", conf], `${dir}/mosquitto.log`, { lifetimeMs });
  const url = `mqtt://127.0.0.1:${port}`;
  let monitor: MqttClient;
  try {
    const deadline = Date.now() + 15_000;
    while (true) {
      try {
        monitor = await mqtt.connectAsync(url, {
          clientId: "kiln-bench-monitor",
          connectTimeout: 5000,
          reconnectPeriod: 1000,
        });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await child.stop();
    throw new Error(
      `Mosquitto on port ${port} did not accept the monitor: ${(err as Error).message}\n${child.tail()}`,
    );
  }
  const samples: SysSample[] = [];
  const now = { received: NaN, sent: NaN, dropped: 0, clients: NaN };
  const topics: Record<string, keyof typeof now> = Object.assign(Object.create(null), {
    "$SYS/broker/messages/received": "received",
    "$SYS/broker/messages/sent": "sent",
    "$SYS/broker/publish/messages/dropped": "dropped",
    "$SYS/broker/clients/connected": "clients",
  });
  monitor.on("message", (topic, payload) => {
    const key = topics[topic];
    if (key === undefined) return;
    now[key] = Number(new TextDecoder().decode(payload));
    // `sent` comes after `received` in each $SYS round: one sample per round.
    if (key === "sent" && Number.isFinite(now.received)) {
      samples.push({ atMs: Date.now(), ...now });
    }
  });
  await monitor.subscribeAsync(Object.keys(topics), { qos: 0 });
  const first = Date.now() + 15_000;
  while (samples.length === 0 && Date.now() < first) await new Promise((r) => setTimeout(r, 100));
  const stop = async () => {
    await monitor.endAsync(true).catch(() => {});
    await child.stop();
  };
  if (samples.length === 0) {
    await stop();
    throw new Error(`Mosquitto published no $SYS counters within 15 s\n${child.tail()}`);
  }
  return {
    url,
    pid: child.pid,
    openFilesLimit: openFilesLimit(child.pid),
    samples,
    latest: () => samples.at(-1) ?? null,
    tail: child.tail,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
