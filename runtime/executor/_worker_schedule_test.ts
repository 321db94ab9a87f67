import assert from "node:assert/strict";
import { createPeriodicTask, LATENESS_WINDOW, latenessOf, startTick } from "./_worker_schedule.ts";
import type { ModuleInstance } from "./instance.ts";

/** The part of an instance a schedule reads and writes. */
function instance(periodUs: number): ModuleInstance {
  return { spec: { periodUs }, stats: { deadlineMisses: 0 } } as unknown as ModuleInstance;
}

Deno.test("a periodic task's first deadline is one period after it is scheduled", () => {
  const task = createPeriodicTask(instance(10_000), 1_000);
  assert.equal(task.periodMs, 10);
  assert.equal(task.next, 1_010);
  assert.equal(latenessOf(task), null);
});

Deno.test("a tick on time moves the deadline one period and records its lateness in microseconds", () => {
  const task = createPeriodicTask(instance(10_000), 0);
  startTick(task, 10.25);
  assert.equal(task.next, 20);
  assert.equal(task.inst.stats.deadlineMisses, 0);
  assert.deepEqual(latenessOf(task), { p50: 250, p99: 250, max: 250 });
});

Deno.test("a tick a whole period or more late skips the missed periods instead of running them", () => {
  const task = createPeriodicTask(instance(10_000), 0);
  startTick(task, 35); // deadline 10: 25 ms late, two whole periods missed
  assert.equal(task.inst.stats.deadlineMisses, 2);
  assert.equal(task.next, 40, "the next deadline is the next period's, not a burst of the missed ones");
  startTick(task, 40);
  assert.equal(task.inst.stats.deadlineMisses, 2);
  assert.equal(task.next, 50);
});

Deno.test("lateness percentiles cover only the last window of ticks", () => {
  const task = createPeriodicTask(instance(1_000), 0);
  for (let i = 0; i < LATENESS_WINDOW; i++) startTick(task, task.next + 0.5); // 500 us late
  for (let i = 0; i < LATENESS_WINDOW; i++) startTick(task, task.next); // on time
  assert.deepEqual(latenessOf(task), { p50: 0, p99: 0, max: 0 });
  startTick(task, task.next + 0.1);
  assert.equal(latenessOf(task)?.max, 100);
});
