/**
 * The WebSocket fan-out server of bench/api.ts, run as its own process: Kiln's `StreamHub` and stream route on
 * `Deno.serve`, publishing one telemetry frame on `outputs/bench` at a fixed rate once `--clients` connections
 * have subscribed, then printing its CPU use and the hub's counters as one JSON line and exiting.
 *
 * Run: `deno run -A bench/_ws_server.ts --token T --clients N --rate-hz R --warmup-ms W --seconds S`.
 * Prints `{"port": P}` when listening.
 *
 * @module
 */
import process from "node:process";
import { Hono } from "hono";
import { createStreamRoute, StreamHub } from "../api/mod.ts";

const arg = (name: string) => {
  const i = Deno.args.indexOf(name);
  if (i < 0) throw new TypeError(`Missing argument ${name}`);
  return Deno.args[i + 1]!;
};
const TOKEN = arg("--token");
const CLIENTS = Number(arg("--clients"));
const RATE_HZ = Number(arg("--rate-hz"));
const WARMUP_MS = Number(arg("--warmup-ms"));
const SECONDS = Number(arg("--seconds"));
/** Frames are published in batches on a timer: Deno's timers fire no faster than every ~2 ms. */
const BATCH_MS = 10;
const TOPIC = "outputs/bench";

const hub = new StreamHub();
const app = new Hono();
app.route(
  "/api/v1/stream",
  createStreamRoute({ hub, authenticate: (t) => (t === TOKEN ? { role: "viewer", name: "bench" } : null) }),
);
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
console.log(JSON.stringify({ port: server.addr.port }));

const subscribed = () =>
  hub.stats().connections.filter((c) => c.state === "open" && c.topics.includes(TOPIC)).length;
const waitStart = Date.now();
while (subscribed() < CLIENTS) {
  if (Date.now() - waitStart > 30_000) {
    throw new Error(`Only ${subscribed()} of ${CLIENTS} clients subscribed`);
  }
  await new Promise((r) => setTimeout(r, 20));
}

/** A module's outputs as the stream publishes them: a handful of named numbers. */
const frame = (seq: number, measured: boolean) => ({
  seq,
  measured,
  module: "fft",
  outputs: {
    peak_hz: 7218.05,
    peak_g: 1.745,
    rms_g: 9.39,
    band_0: 2.17,
    band_1: 2.79,
    band_2: 4.31,
    band_3: 7.32,
  },
});

let published = 0;
let measuredPublished = 0;
const t0 = performance.now();
let measureStart = Number.POSITIVE_INFINITY;
let cpu0 = process.cpuUsage();
const end = t0 + WARMUP_MS + SECONDS * 1000;
while (performance.now() < end) {
  const now = performance.now();
  const measured = now - t0 >= WARMUP_MS;
  if (measured && measureStart === Number.POSITIVE_INFINITY) {
    measureStart = now;
    cpu0 = process.cpuUsage();
  }
  // As many frames as the clock says are due, so the rate holds when a timer fires late.
  const due = Math.floor(((now - t0) / 1000) * RATE_HZ);
  for (; published < due; published++) {
    hub.publish(TOPIC, frame(published + 1, measured));
    if (measured) measuredPublished++;
  }
  await new Promise((r) => setTimeout(r, BATCH_MS));
}
const elapsedS = (performance.now() - measureStart) / 1000;
const cpu = process.cpuUsage(cpu0);
const stats = hub.stats();
console.log(JSON.stringify({
  published,
  measured_published: measuredPublished,
  measured_s: elapsedS,
  cpu_percent: Math.round(((cpu.user + cpu.system) / 1e6 / elapsedS) * 1000) / 10,
  sent: stats.connections.reduce((a, c) => a + c.sent, 0),
  dropped: stats.connections.reduce((a, c) => a + c.dropped, 0),
  peak_queued: Math.max(...stats.connections.map((c) => c.peak_queued)),
}));
// Let the last frames drain before the hub closes the sockets.
await new Promise((r) => setTimeout(r, 500));
await hub[Symbol.asyncDispose]();
await server.shutdown();
