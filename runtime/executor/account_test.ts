import assert from "node:assert/strict";
import {
  accountLimitsOf,
  AUDIT_WINDOW_MS,
  DEFAULT_ACCOUNT_LIMITS,
  limitsByManifestKey,
  ModuleAccount,
  SUPPRESSED_DENIALS,
  TokenBucket,
} from "./account.ts";
import { HeldAccount } from "../_held_account.ts";

/** A clock the test moves by hand. */
function fakeClock(start = 1_000) {
  let t = start;
  return { nowMs: () => t, advance: (ms: number) => void (t += ms) };
}

Deno.test("a token bucket allows a burst of its capacity, then its rate, and never more than its capacity", () => {
  const clock = fakeClock();
  const b = new TokenBucket(10, 10, clock.nowMs);
  for (let i = 0; i < 10; i++) assert.equal(b.take(), true);
  assert.equal(b.take(), false);
  clock.advance(100);
  assert.equal(b.take(), true, "one token back after a tenth of a second");
  assert.equal(b.take(), false);
  clock.advance(60_000);
  let n = 0;
  while (b.take()) n++;
  assert.equal(n, 10, "a long pause refills it to its capacity only");
  assert.equal(b.take(0), true);
  assert.equal(b.take(11), false, "more than it holds is never allowed");
});

Deno.test("limits left out of the manifest get the defaults, and the status shows them by manifest key", () => {
  const limits = accountLimitsOf({ max_output_keys: 1000, max_memory_mb: 4, outbox_share: 0.5 });
  assert.equal(limits.maxOutputKeys, 1000);
  assert.equal(limits.outboxShare, 0.5);
  assert.equal(limits.maxArrayKeys, DEFAULT_ACCOUNT_LIMITS.maxArrayKeys);
  const shown = limitsByManifestKey(limits);
  assert.equal(shown.max_output_keys, 1000);
  assert.equal(shown.audit_rows_per_min, DEFAULT_ACCOUNT_LIMITS.auditRowsPerMin);
  assert.equal(Object.keys(shown).length, Object.keys(DEFAULT_ACCOUNT_LIMITS).length);
});

Deno.test("the executor's account bounds distinct output keys; keys it holds still update", () => {
  const account = new ModuleAccount({ maxOutputKeys: 3 });
  for (const key of ["a", "b", "c"]) assert.equal(account.allowOutput(key), true);
  assert.equal(account.allowOutput("d"), false);
  assert.equal(account.allowOutput("__proto__"), false);
  assert.equal(account.allowOutput("a"), true);
  assert.equal(account.throttled.outputs, 2);
  assert.equal(account.held().outputKeys, 3);
});

Deno.test("the executor's account bounds array keys and the bytes of all arrays together", async (t) => {
  const account = new ModuleAccount({ maxArrayKeys: 2, maxArrayBytes: 1000 });
  await t.step("a new key within both limits is taken", () => {
    assert.equal(account.allowArray("x", 400), true);
    assert.equal(account.allowArray("y", 400), true);
  });
  await t.step("a third key is refused even when small", () => {
    assert.equal(account.allowArray("z", 4), false);
  });
  await t.step("a held key may grow only while the total stays within the bytes", () => {
    assert.equal(account.allowArray("x", 600), true);
    assert.equal(account.allowArray("x", 604), false);
    assert.equal(account.allowArray("y", 100), true, "shrinking frees bytes");
    assert.equal(account.allowArray("x", 900), true);
  });
  assert.equal(account.throttled.arrays, 2);
  assert.deepEqual(account.held(), { outputKeys: 0, arrayKeys: 2, arrayBytes: 1000, topics: 0 });
});

Deno.test("the executor's account rate-limits publishes by messages and bytes, and bounds the topics", async (t) => {
  const clock = fakeClock();
  const account = new ModuleAccount(
    { publishPerS: 5, publishBytesPerS: 100_000, maxPublishTopics: 2 },
    { nowMs: clock.nowMs },
  );
  await t.step("a burst of one second's messages, then ELIMIT until tokens come back", () => {
    for (let i = 0; i < 5; i++) assert.equal(account.allowPublish("a", 10), true);
    assert.equal(account.allowPublish("a", 10), false);
    clock.advance(200);
    assert.equal(account.allowPublish("a", 10), true);
  });
  await t.step("a new topic past the limit is refused; known ones are not", () => {
    clock.advance(1000);
    assert.equal(account.allowPublish("b", 10), true);
    assert.equal(account.allowPublish("c", 10), false);
    assert.equal(account.allowPublish("b", 10), true);
  });
  await t.step("bytes run out before messages with large payloads", () => {
    clock.advance(1000);
    const big = new ModuleAccount({ publishBytesPerS: 70_000 }, { nowMs: clock.nowMs });
    assert.equal(big.allowPublish("t", 65_792), true, "one message of the largest size passes");
    assert.equal(big.allowPublish("t", 10_000), false);
    clock.advance(1000);
    assert.equal(big.allowPublish("t", 10_000), true);
  });
  assert.equal(account.throttled.publish, 2);
});

Deno.test("a limit below the largest item still lets one such item through at the byte rate", () => {
  const clock = fakeClock();
  const account = new ModuleAccount({ logBytesPerS: 100 }, { nowMs: clock.nowMs });
  assert.equal(account.allowLog(4096), true, "a WASI line of the largest size");
  assert.equal(account.allowLog(10), false);
  clock.advance(10_240);
  assert.equal(account.allowLog(1024), true, "1024 bytes back after 10.24 s at 100 bytes/s");
  assert.equal(account.allowLog(10), false);
});

Deno.test("log lines are limited by lines and by bytes a second, whichever runs out first", () => {
  const clock = fakeClock();
  const account = new ModuleAccount({ logLinesPerS: 10, logBytesPerS: 5000 }, { nowMs: clock.nowMs });
  let taken = 0;
  while (account.allowLog(1000)) taken++;
  assert.equal(taken, 5, "bytes first: 5000 bytes of 1000-byte lines");
  clock.advance(1000);
  taken = 0;
  while (account.allowLog(10)) taken++;
  assert.equal(taken, 10, "lines first: 10 short lines");
  assert.equal(account.throttled.logs, 2);
});

Deno.test("alerts are limited to their rate, and the refusals counted", () => {
  const clock = fakeClock();
  const account = new ModuleAccount({ alertsPerS: 2 }, { nowMs: clock.nowMs });
  assert.deepEqual([account.allowAlert(), account.allowAlert(), account.allowAlert()], [true, true, false]);
  clock.advance(500);
  assert.equal(account.allowAlert(), true);
  assert.equal(account.throttled.alerts, 1);
});

Deno.test("distinct denials past the audit rows of a minute are reported as one counted kind, until the minute ends", () => {
  const clock = fakeClock();
  const account = new ModuleAccount({ auditRowsPerMin: 3 }, { nowMs: clock.nowMs });
  const seen = [1, 2, 3, 4, 5, 1].map((pin) => account.denial(`read:gpio:pin_${pin}`, `gpio_read(${pin})`));
  assert.deepEqual(seen.map((d) => d.capability), [
    "read:gpio:pin_1",
    "read:gpio:pin_2",
    "read:gpio:pin_3",
    SUPPRESSED_DENIALS,
    SUPPRESSED_DENIALS,
    "read:gpio:pin_1",
  ]);
  assert.equal(account.throttled.audit, 2);
  clock.advance(AUDIT_WINDOW_MS);
  assert.equal(account.denial("read:gpio:pin_9", "gpio_read(9)").capability, "read:gpio:pin_9");
});

Deno.test("the runtime's account keeps a bounded number of outputs in null-prototype records", () => {
  const held = new HeldAccount({ maxOutputKeys: 2, maxArrayKeys: 1, maxArrayBytes: 64 });
  assert.equal(Object.getPrototypeOf(held.outputs), null);
  assert.equal(held.setOutput("__proto__", 1), true);
  assert.equal(held.setOutput("constructor", 2), true);
  assert.equal(held.setOutput("x", 3), false);
  assert.equal(held.setOutput("__proto__", 4), true);
  assert.deepEqual(Object.entries(held.outputs), [["__proto__", 4], ["constructor", 2]]);
  assert.equal(({} as Record<string, unknown>).constructor, Object, "Object.prototype is untouched");
  assert.equal(held.setArray("s", new Float32Array(16)), true);
  assert.equal(held.setArray("t", new Float32Array(1)), false);
  assert.equal(held.setArray("s", new Float32Array(17)), false);
  assert.deepEqual(held.throttled.outputs, 1);
  assert.deepEqual(held.throttled.arrays, 2);
  assert.deepEqual(held.held(), { outputKeys: 2, arrayKeys: 1, arrayBytes: 64, topics: 0 });
});

Deno.test("the runtime's rate limits allow twice the executor's burst, so late reports are not dropped", () => {
  const clock = fakeClock();
  const held = new HeldAccount({ logLinesPerS: 10, alertsPerS: 2, publishPerS: 3 }, { nowMs: clock.nowMs });
  let lines = 0;
  while (held.allowLog(10)) lines++;
  assert.equal(lines, 20);
  let alerts = 0;
  while (held.allowAlert()) alerts++;
  assert.equal(alerts, 4);
  let messages = 0;
  while (held.allowPublish("t", 10)) messages++;
  assert.equal(messages, 6);
  assert.deepEqual([held.throttled.logs, held.throttled.alerts, held.throttled.publish], [1, 1, 1]);
});
