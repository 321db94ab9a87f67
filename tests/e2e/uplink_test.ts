/**
 * The MQTT uplink of `kiln run` against a real Mosquitto: a module's telemetry reaches `mosquitto_sub` with
 * per-stream sequence numbers; the broker is stopped and restarted mid-stream and every sequence number
 * still arrives, first arrivals in order (the outbox kept what was produced meanwhile); a command
 * published with `mosquitto_pub` triggers an event module; alerts and the status topic go out too.
 */
import assert from "node:assert/strict";
import { getJson, startKiln } from "../_process.ts";
import { waitFor, wat } from "../_helpers.ts";
import { createMosquitto, pub, startSub } from "../hal/_mosquitto.ts";
import { killAfterGrace, PEER_LIFETIME_MS, stopChild } from "../_timeouts.ts";

const COUNT = 150;

/** Publishes "x" on plant/gw-up/counter every tick until it has published COUNT times. */
const PUBLISHER = `(module
  (import "kiln" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "plant/gw-up/counter")   ;; 19 bytes
  (data (i32.const 48) "x")
  (data (i32.const 64) "sent")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (if (i32.lt_u (i32.load (i32.const 1024)) (i32.const ${COUNT}))
      (then
        (if (i32.eqz (call $publish (i32.const 16) (i32.const 19) (i32.const 48) (i32.const 1)))
          (then (i32.store (i32.const 1024) (i32.add (i32.load (i32.const 1024)) (i32.const 1)))))))
    (drop (call $output (i32.const 64) (i32.const 4) (f64.convert_i32_u (i32.load (i32.const 1024)))))
    (i32.const 0)))`;

/** On each MQTT command, counts it and outputs the payload's length; raises an alert on "alarm". */
const COMMANDS = `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (import "kiln" "alert" (func $alert (param i32 i32 i32) (result i32)))
  (import "kiln" "kiln_alloc_unused" (func $unused))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "commands")  ;; 8
  (data (i32.const 32) "last_len")  ;; 8
  (data (i32.const 48) "kind")      ;; 4
  (data (i32.const 64) "operator alarm")  ;; 14
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_on_event") (param $kind i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 1024) (i32.add (i32.load (i32.const 1024)) (i32.const 1)))
    (drop (call $output (i32.const 16) (i32.const 8) (f64.convert_i32_u (i32.load (i32.const 1024)))))
    (drop (call $output (i32.const 32) (i32.const 8) (f64.convert_i32_u (local.get $len))))
    (drop (call $output (i32.const 48) (i32.const 4) (f64.convert_i32_u (local.get $kind))))
    (if (i32.and (i32.eq (local.get $len) (i32.const 5)) (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 97)))
      (then (drop (call $alert (i32.const 2) (i32.const 64) (i32.const 14)))))
    (i32.const 0)))`.replace(`  (import "kiln" "kiln_alloc_unused" (func $unused))\n`, "");

interface Envelope {
  device: string;
  module: string;
  stream: string;
  seq: number;
  payload?: unknown;
}

/** `mosquitto_sub` with a persistent session (it gets what was queued for it while the broker restarted). */
function subscriber(port: number, topic: string) {
  const signal = AbortSignal.timeout(PEER_LIFETIME_MS);
  const child = new Deno.Command("stdbuf", {
    args: [
      "-oL",
      "mosquitto_sub",
      "-h",
      "127.0.0.1",
      "-p",
      `${port}`,
      "-t",
      topic,
      "-q",
      "1",
      "-c",
      "-i",
      "kiln-e2e-sub",
      "-v",
    ],
    stdout: "piped",
    stderr: "null",
    signal,
  }).spawn();
  killAfterGrace(child, signal);
  const lines: string[] = [];
  let buffer = "";
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      lines.push(...parts);
    }
  })();
  return {
    lines,
    async [Symbol.asyncDispose]() {
      await stopChild(child);
      await reading;
    },
  };
}

Deno.test("telemetry survives a broker restart with every sequence number, commands trigger modules, alerts go out", async () => {
  const dir = await Deno.makeTempDir();
  await using broker = await createMosquitto(dir, { persistence: true });
  await broker.start();
  await Deno.writeFile(`${dir}/publisher.wasm`, wat(PUBLISHER));
  await Deno.writeFile(`${dir}/commands.wasm`, wat(COMMANDS));
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1
device: { id: gw-up }
policy:
  allow: ["write:mqtt:plant/gw-up/#", "read:mqtt:plant/gw-up/cmd/#", "use:executor:realtime"]
connectors:
  mqtt:
    url: mqtt://127.0.0.1:${broker.port}
    batch_interval_s: 0
    outbox: { drain_rate_per_s: 1000 }
modules:
  publisher:
    wasm: publisher.wasm
    capabilities: ["write:mqtt:plant/gw-up/counter"]
    schedule: { mode: periodic, period_us: 20000 }
  commands:
    wasm: commands.wasm
    capabilities: ["read:mqtt:plant/gw-up/cmd/#", "use:executor:realtime"]
    schedule: { mode: event, trigger: "mqtt:plant/gw-up/cmd/#" }
`,
  );
  // A persistent session: the broker keeps what arrives for it while it reconnects after the restart.
  await using sub = subscriber(broker.port, "#");
  await new Promise((r) => setTimeout(r, 300));
  await using kiln = await startKiln([`${dir}/kiln.yaml`, "--data", `${dir}/data`]);
  const outputs = async (m: string) =>
    (await getJson<{ outputs: Record<string, number> }>(`${kiln.base}/api/v1/modules/${m}`)).outputs;

  await waitFor("some telemetry", async () => ((await outputs("publisher")).sent ?? 0) >= 20);
  await broker.stop(); // mid-stream: the outbox keeps what the module publishes meanwhile
  await waitFor("the uplink to notice", async () => {
    const u = await getJson<{ connector: { state: string }; outbox: { depth: number } }>(
      `${kiln.base}/api/v1/uplink`,
    );
    return u.connector.state !== "connected" && u.outbox.depth > 0;
  });
  await new Promise((r) => setTimeout(r, 500));
  await broker.start();

  await waitFor("every message to arrive", () => {
    const seqs = new Set(counterMessages(sub.lines).map((e) => e.seq));
    return seqs.size >= COUNT;
  }, 30_000);
  const all = counterMessages(sub.lines);
  const first: number[] = [];
  const seen = new Set<number>();
  for (const e of all) {
    if (!seen.has(e.seq)) first.push(e.seq);
    seen.add(e.seq);
    assert.equal(e.device, "gw-up");
    assert.equal(e.module, "publisher");
    assert.equal(e.stream, "plant/gw-up/counter");
    assert.equal(e.payload, "x");
  }
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    Array.from({ length: COUNT }, (_, i) => i + 1),
    "no gaps",
  );
  assert.deepEqual(first, [...first].sort((a, b) => a - b), "first arrivals in order");
  const uplink = await getJson<{ outbox: { depth: number; kinds: { telemetry: { delivered: number } } } }>(
    `${kiln.base}/api/v1/uplink`,
  );
  await waitFor(
    "the outbox to drain",
    async () =>
      (await getJson<{ outbox: { depth: number } }>(`${kiln.base}/api/v1/uplink`)).outbox.depth === 0,
  );
  assert.ok(uplink.outbox.kinds.telemetry.delivered >= 1);

  // A command on the broker runs the event module (kind 4, the payload as its buffer), and its alert goes out.
  await pub(broker, "plant/gw-up/cmd/reset", new TextEncoder().encode("hello world"));
  await waitFor("the command", async () => (await outputs("commands")).commands === 1);
  assert.equal((await outputs("commands")).last_len, 11);
  assert.equal((await outputs("commands")).kind, 4);
  await pub(broker, "plant/gw-up/cmd/x", new TextEncoder().encode("alarm"));
  await waitFor(
    "the alert on the broker",
    () =>
      sub.lines.some((l) => l.startsWith("kiln/gw-up/alerts/commands ") && l.includes('"operator alarm"')),
  );
  assert.ok(sub.lines.some((l) => l === "kiln/gw-up/status online"), "retained online status");
  const connectors = await getJson<{ connectors: { name: string; state: string }[] }>(
    `${kiln.base}/api/v1/connectors`,
  );
  assert.equal(connectors.connectors.find((c) => c.name === "mqtt")?.state, "connected");
});

function counterMessages(lines: string[]): Envelope[] {
  return lines.filter((l) => l.startsWith("plant/gw-up/counter ")).map((l) =>
    JSON.parse(l.slice("plant/gw-up/counter ".length)) as Envelope
  );
}

Deno.test("with session: persistent, a command sent while Kiln was stopped runs its event module after the restart", async () => {
  const dir = await Deno.makeTempDir();
  await using broker = await createMosquitto(dir, { persistence: true });
  await broker.start();
  await Deno.writeFile(`${dir}/commands.wasm`, wat(COMMANDS));
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1
device: { id: gw-up }
policy:
  allow: ["read:mqtt:plant/gw-up/cmd/#", "use:executor:realtime"]
connectors:
  mqtt:
    url: mqtt://127.0.0.1:${broker.port}
    session: persistent
    batch_interval_s: 0
modules:
  commands:
    wasm: commands.wasm
    capabilities: ["read:mqtt:plant/gw-up/cmd/#", "use:executor:realtime"]
    schedule: { mode: event, trigger: "mqtt:plant/gw-up/cmd/#" }
`,
  );
  const args = [`${dir}/kiln.yaml`, "--data", `${dir}/data`];
  {
    await using kiln = await startKiln(args);
    await waitFor("the uplink", async () => {
      const u = await getJson<{ connector: { state: string } }>(`${kiln.base}/api/v1/uplink`);
      return u.connector.state === "connected";
    });
    assert.equal(await kiln.stop(), 0);
  }
  // Kiln is away: the broker queues the command for its session.
  await pub(broker, "plant/gw-up/cmd/reset", new TextEncoder().encode("while away"), { qos: 1 });
  await using kiln = await startKiln(args);
  const outputs = async () =>
    (await getJson<{ outputs: Record<string, number> }>(`${kiln.base}/api/v1/modules/commands`)).outputs;
  await waitFor("the queued command", async () => (await outputs()).commands === 1);
  assert.equal((await outputs()).last_len, 10);
  assert.equal((await outputs()).kind, 4);
});

/** The retained status of `device` as a new subscriber gets it at once. */
async function retainedStatus(port: number, device: string): Promise<string> {
  await using sub = await startSub({ port }, `kiln/${device}/status`, 1);
  const [message] = await sub.messages;
  return new TextDecoder().decode(message!.payload);
}

Deno.test("presence: the retained status reads online while Kiln runs, offline after a graceful stop and after a crash", async () => {
  const dir = await Deno.makeTempDir();
  await using broker = await createMosquitto(dir);
  await broker.start();
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1
device: { id: gw-presence }
connectors:
  mqtt:
    url: mqtt://127.0.0.1:${broker.port}
    batch_interval_s: 0
    backoff_ms: 100
    max_backoff_ms: 1000
modules: {}
`,
  );
  const connected = async (kiln: { base: string }) =>
    (await getJson<{ connector: { state: string } }>(`${kiln.base}/api/v1/uplink`)).connector.state ===
      "connected";
  // Graceful: SIGTERM. The clean DISCONNECT makes the broker discard the will, so Kiln says it itself.
  const kiln = await startKiln([`${dir}/kiln.yaml`, "--data", `${dir}/data`]);
  try {
    await waitFor("the uplink", () => connected(kiln));
    await waitFor("online", async () => await retainedStatus(broker.port, "gw-presence") === "online");
    assert.equal(await kiln.stop(), 0);
  } finally {
    await kiln.stop();
  }
  assert.equal(await retainedStatus(broker.port, "gw-presence"), "offline", "offline after a graceful stop");
  // A crash: SIGKILL. The broker publishes the will once it notices (keepalive, or the socket closing).
  const again = await startKiln([`${dir}/kiln.yaml`, "--data", `${dir}/data`]);
  try {
    await waitFor("the uplink again", () => connected(again));
    await waitFor("online again", async () => await retainedStatus(broker.port, "gw-presence") === "online");
    again.child.kill("SIGKILL");
    await again.child.status;
  } finally {
    await again.stop();
  }
  await waitFor("the will", async () => await retainedStatus(broker.port, "gw-presence") === "offline");
});
