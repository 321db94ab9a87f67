import assert from "node:assert/strict";
import { Telemetry, type TelemetryEvent } from "./telemetry.ts";

const LOG: TelemetryEvent = {
  type: "log",
  seq: 1,
  line: { module: "m", level: "info", message: "hi", at: 1 },
};

Deno.test("the telemetry bus hands each event to every listener subscribed at that moment, in order", () => {
  const bus = new Telemetry();
  assert.equal(bus.active, false);
  bus.emit(LOG); // nobody listens: gone
  const seen: string[] = [];
  const a = bus.subscribe((e) => seen.push(`a ${e.type}`));
  const b = bus.subscribe((e) => seen.push(`b ${e.type}`));
  assert.equal(bus.active, true);
  bus.emit(LOG);
  a[Symbol.dispose]();
  bus.emit({ type: "removed", module: "m", at: 2 });
  b[Symbol.dispose]();
  bus.emit(LOG);
  assert.deepEqual(seen, ["a log", "b log", "b removed"]);
  assert.equal(bus.active, false);
  assert.deepEqual(bus.stats(), { listeners: 0, emitted: 2, errors: 0, last_error: null });
});

Deno.test("a telemetry listener that throws is counted, said once, and does not keep the event from the others", () => {
  const bus = new Telemetry();
  const said: unknown[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => said.push(args);
  try {
    using _bad = bus.subscribe(() => {
      throw new Error("listener broke");
    });
    let good = 0;
    using _good = bus.subscribe(() => good++);
    bus.emit(LOG);
    bus.emit(LOG);
    assert.equal(good, 2);
    const stats = bus.stats();
    assert.equal(stats.errors, 2);
    assert.equal(stats.last_error, "listener broke");
    assert.equal(said.length, 1, "said once, not on every event");
  } finally {
    console.error = consoleError;
  }
});
