import assert from "node:assert/strict";
import { backoffDelayMs, ConnectionKeeper } from "./keeper.ts";
import type { Clock, PointStatus } from "./mod.ts";

/** Timers fired by hand. */
class HandClock implements Clock {
  nowMs = 1_000_000;
  readonly timers: { atMs: number; callback: () => void; cancelled: boolean }[] = [];
  now(): number {
    return this.nowMs;
  }
  setTimer(callback: () => void, delayMs: number): () => void {
    const timer = { atMs: this.nowMs + delayMs, callback, cancelled: false };
    this.timers.push(timer);
    return () => timer.cancelled = true;
  }
  /** Moves to the next pending timer and fires it; its delay. */
  fireNext(): number {
    const timer = this.timers.filter((t) => !t.cancelled).sort((a, b) => a.atMs - b.atMs)[0];
    assert.ok(timer, "a timer is pending");
    const delay = timer.atMs - this.nowMs;
    this.nowMs = timer.atMs;
    timer.cancelled = true;
    timer.callback();
    return delay;
  }
  pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}

function keeper(clock: Clock, random = () => 1) {
  return new ConnectionKeeper({
    name: "plc1",
    kind: "modbus",
    backoff: { backoffMs: 100, maxBackoffMs: 1000 },
    clock,
    random,
  });
}

const point = (id: string, state: PointStatus["state"]): PointStatus => ({ id, state, error: null });

Deno.test("the backoff doubles up to its ceiling, half fixed and half random (equal jitter)", () => {
  const options = { initialMs: 500, maxMs: 30_000 };
  const low = (n: number) => backoffDelayMs(n, { ...options, random: () => 0 });
  const high = (n: number) => backoffDelayMs(n, { ...options, random: () => 1 });
  assert.deepEqual([0, 1, 2, 3].map(high), [500, 1000, 2000, 4000]);
  assert.deepEqual([0, 1, 2, 3].map(low), [250, 500, 1000, 2000]);
  assert.equal(high(100), 30_000, "capped, even for a huge failure count");
  assert.equal(low(100), 15_000);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelayMs(3, options);
    assert.ok(d >= 2000 && d <= 4000, `${d}`);
  }
});

Deno.test("a keeper counts failed attempts, schedules each retry after its backoff and says when", () => {
  const clock = new HandClock();
  const k = keeper(clock);
  let attempts = 0;
  const attempt = () => attempts++;
  assert.equal(k.state(), "connecting");
  k.down(new Error("refused"), attempt);
  assert.equal(k.state(), "reconnecting");
  assert.equal(k.status().nextAttemptAtMs, clock.nowMs + 100);
  assert.deepEqual([clock.fireNext()], [100]);
  assert.equal(attempts, 1);
  assert.equal(k.status().nextAttemptAtMs, null, "no attempt waiting while one runs");
  k.down(new Error("refused"), attempt);
  k.down(new Error("refused again before the retry"), attempt); // one retry at a time
  assert.equal(clock.pending(), 1);
  assert.deepEqual([clock.fireNext()], [200]);
  for (let i = 0; i < 5; i++) {
    k.down(new Error("refused"), attempt);
    clock.fireNext();
  }
  k.down(new Error("refused"), attempt);
  assert.equal(clock.fireNext(), 1000, "max_backoff_ms is the ceiling");
  const s = k.status();
  assert.equal(s.errors, 9);
  assert.equal(s.failures, 8);
  assert.equal(s.reconnects, 0);
  assert.equal(s.lastError, "refused");
  assert.deepEqual([s.backoffMs, s.maxBackoffMs], [100, 1000]);

  k.connected();
  assert.equal(k.state(), "connected");
  assert.equal(k.status().reconnects, 0, "the first connection is not a reconnect");
  assert.equal(k.status().failures, 8, "a bare connect does not reset the backoff");
  k.worked();
  assert.equal(k.status().failures, 0);
  k.down(new Error("lost"), attempt);
  assert.equal(clock.fireNext(), 100, "back to backoff_ms once the connection worked");
  k.connected();
  assert.equal(k.status().reconnects, 1);
});

Deno.test("the state comes from the points while connected: degraded when some are refused, error when all", () => {
  const k = keeper(new HandClock());
  k.connected();
  assert.equal(k.state([point("a", "ok"), point("b", "waiting")]), "connected");
  assert.equal(k.state([point("a", "ok"), point("b", "refused")]), "degraded");
  assert.equal(k.state([point("a", "refused"), point("b", "refused")]), "error");
  assert.deepEqual(k.status([point("a", "refused")]).points, [point("a", "refused")]);
  assert.equal(k.status().points, undefined, "a connector without points reports none");
});

Deno.test("a permanent refusal is an error state that still retries; close cancels the retry", () => {
  const clock = new HandClock();
  const k = keeper(clock);
  let attempts = 0;
  k.down(new Error("not authorized"), () => attempts++, { permanent: true });
  assert.equal(k.state(), "error");
  clock.fireNext();
  assert.equal(attempts, 1);
  k.down(new Error("not authorized"), () => attempts++, { permanent: true });
  k.close();
  assert.equal(k.state(), "closed");
  assert.equal(clock.pending(), 0);
  k.down(new Error("late"), () => attempts++);
  assert.equal(clock.pending(), 0, "nothing is scheduled once closed");
  assert.equal(k.status().errors, 2, "a late error after close is not counted");
});

Deno.test("an error object reported by two paths is counted once", () => {
  const k = keeper(new HandClock());
  const err = new Error("timed out");
  k.record(err);
  k.down(err, () => {});
  assert.equal(k.status().errors, 1);
  k.record("a string is counted each time");
  k.record("a string is counted each time");
  assert.equal(k.status().errors, 3);
});
