import assert from "node:assert/strict";
import { createMiniHost, type MiniHost } from "./_mini_host.ts";
import { readModule } from "./_paths.ts";

const PERIOD_US = 1_000_000;
const TOPIC = "kiln/summary/temperature";
const decoder = new TextDecoder();

async function aggregatorHost(): Promise<MiniHost> {
  return await createMiniHost(await readModule("aggregator/aggregator.wasm"), {
    params: { "kiln.period_us": PERIOD_US },
  });
}

/** The last published summary, parsed. */
function lastSummary(host: MiniHost): Record<string, unknown> {
  const message = host.messages.at(-1);
  assert.ok(message, "nothing was published");
  assert.equal(message.topic, TOPIC);
  return JSON.parse(decoder.decode(message.payload));
}

Deno.test("each tick outputs min, max and mean of the inputs and publishes them as one JSON summary", async () => {
  const host = await aggregatorHost();
  host.inputs.push({ value: 45.25, quality: 0, ageMs: 80 }, { value: 38.5, quality: 1, ageMs: 10 }, {
    value: 52,
    quality: 0,
  });
  assert.equal(host.tick(3_000_000n), 0);
  assert.equal(host.outputs.get("temperature_min_c"), 38.5);
  assert.equal(host.outputs.get("temperature_max_c"), 52);
  assert.equal(host.outputs.get("temperature_mean_c"), (45.25 + 38.5 + 52) / 3);
  assert.equal(host.outputs.get("temperature_count"), 3);
  assert.deepEqual(lastSummary(host), {
    at_us: 3_000_000,
    period_us: PERIOD_US,
    inputs: 3,
    temperature_count: 3,
    temperature_min_c: 38.5,
    temperature_max_c: 52,
    temperature_mean_c: 45.25,
    values_c: [45.25, 38.5, 52],
  });
  assert.equal(host.outputs.get("published"), 1);
  assert.equal(host.outputs.get("publish_errors"), 0);
  host.inputs[2] = { value: -3.125, quality: 0 };
  host.tick(4_000_000n);
  assert.equal(host.outputs.get("temperature_min_c"), -3.125);
  assert.equal(lastSummary(host).temperature_min_c, -3.125);
  assert.equal(host.outputs.get("published"), 2);
});

Deno.test("bad-quality, stale and non-finite values are skipped", async () => {
  const host = await aggregatorHost();
  host.inputs.push(
    { value: 40, quality: 0, ageMs: 2000 }, // exactly twice the period: still fresh
    { value: 99, quality: 2 },
    { value: 10, quality: 0, ageMs: 2001 },
    { value: NaN, quality: 0 },
    { value: 44, quality: 0 },
  );
  assert.equal(host.tick(1_000_000n), 0);
  assert.equal(host.outputs.get("temperature_min_c"), 40);
  assert.equal(host.outputs.get("temperature_max_c"), 44);
  assert.equal(host.outputs.get("temperature_mean_c"), 42);
  const summary = lastSummary(host);
  assert.deepEqual(summary.values_c, [40, null, null, null, 44]);
  assert.equal(summary.temperature_count, 2);
  assert.equal(summary.inputs, 5);
});

Deno.test("with every value skipped, the summary has nulls and no statistic is output", async () => {
  const host = await aggregatorHost();
  host.inputs.push({ value: 40, quality: 2 });
  assert.equal(host.tick(1_000_000n), 0);
  assert.equal(host.outputs.has("temperature_mean_c"), false);
  assert.equal(host.outputs.get("temperature_count"), 0);
  const summary = lastSummary(host);
  assert.equal(summary.temperature_min_c, null);
  assert.equal(summary.temperature_mean_c, null);
  assert.deepEqual(summary.values_c, [null]);
});

Deno.test("a failed publish is counted in publish_errors, logged once per spell, and the tick succeeds", async () => {
  const host = await aggregatorHost();
  host.inputs.push({ value: 40, quality: 0 });
  host.publishStatus = -3;
  assert.equal(host.tick(1_000_000n), 0);
  assert.equal(host.tick(2_000_000n), 0);
  assert.equal(host.outputs.get("publish_errors"), 2);
  assert.equal(host.outputs.get("published"), 0);
  assert.equal(host.logs.filter((l) => l.level === 2).length, 1);
  host.publishStatus = 0;
  host.tick(3_000_000n);
  assert.equal(host.outputs.get("published"), 1);
  assert.equal(host.messages.length, 1);
});

Deno.test("without inputs the tick returns KILN_ENOENT", async () => {
  const host = await aggregatorHost();
  assert.equal(host.tick(1_000_000n), -2);
  assert.deepEqual(host.messages, []);
});
