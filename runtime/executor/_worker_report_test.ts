import assert from "node:assert/strict";
import { MAX_QUEUED_EVENTS, ReportBatch } from "./_worker_report.ts";
import { SimGpio } from "../../hal/sim/gpio.ts";

Deno.test("a report batch keeps the latest output per key, under keys that name Object's properties", () => {
  const batch = new ReportBatch();
  batch.output("__proto__", "constructor", 1);
  batch.output("__proto__", "constructor", 2);
  batch.output("m", "toString", 3);
  const report = batch.take({});
  assert.equal(report.type, "report");
  assert.equal(report.outputs["__proto__"]?.["constructor"], 2);
  assert.equal(report.outputs["m"]?.["toString"], 3);
  assert.equal(Object.getPrototypeOf(report.outputs), null);
  assert.equal(({} as Record<string, unknown>)["constructor"], Object, "Object.prototype is untouched");
  assert.deepEqual(Object.keys(batch.take({}).outputs), [], "the next report starts empty");
});

Deno.test("a report batch counts a flood of identical denials as one event", () => {
  const batch = new ReportBatch();
  for (let i = 0; i < 5; i++) batch.denied("m", "write:gpio:pin_3", "gpio_write(3)");
  batch.denied("m", "write:gpio:pin_4", "gpio_write(4)");
  batch.used("m", "read:gpio:pin_1");
  batch.used("m", "read:gpio:pin_1");
  const report = batch.take({});
  assert.deepEqual(report.denials, [
    { module: "m", capability: "write:gpio:pin_3", detail: "gpio_write(3)", count: 5 },
    { module: "m", capability: "write:gpio:pin_4", detail: "gpio_write(4)", count: 1 },
  ]);
  assert.equal(report.uses["m"]?.["read:gpio:pin_1"], 2);
});

Deno.test("a report batch queues at most its bound of alerts and logs per report", () => {
  const batch = new ReportBatch();
  for (let i = 0; i < MAX_QUEUED_EVENTS + 5; i++) {
    batch.alert({ module: "m", severity: "warning", message: `a${i}`, at: i });
    batch.log({ module: "m", level: "info", message: `l${i}`, at: i });
  }
  const report = batch.take({});
  assert.equal(report.alerts.length, MAX_QUEUED_EVENTS);
  assert.equal(report.logs.length, MAX_QUEUED_EVENTS);
  assert.equal(batch.take({}).alerts.length, 0);
});

Deno.test("a write to a simulated pin drives the shared bank at once and is still reported", () => {
  const bank = new SimGpio({ pins: 4 });
  const batch = new ReportBatch();
  batch.gpio = SimGpio.attach(bank.buffer);
  batch.write({ module: "m", kind: "gpio", pin: 2, value: 1 });
  batch.write({ module: "m", kind: "gpio", pin: 9, value: 1 }); // no such pin: left to the runtime
  batch.write({ module: "m", kind: "actuator", index: 0, value: 5 });
  assert.equal(bank.get(2)?.value, 1);
  assert.equal(bank.get(2)?.setBy, "output");
  const writes = batch.takeWrites();
  assert.equal(writes?.length, 3);
  assert.equal(typeof (writes?.[0] as { drivenAt?: number }).drivenAt, "number");
  assert.equal((writes?.[1] as { drivenAt?: number }).drivenAt, undefined);
  assert.equal(batch.takeWrites(), null, "taken writes are not taken twice");
  assert.deepEqual(batch.take({}).writes, []);
});

Deno.test("a module whose share of the outbox is full has its publishes refused", () => {
  const batch = new ReportBatch();
  const message = (module: string) => ({ module, topic: "t", payload: new Uint8Array(1), at: 0 });
  batch.outboxFull = new Set(["full"]);
  assert.equal(batch.publish(message("full")), false);
  assert.equal(batch.publish(message("other")), true);
  assert.deepEqual(batch.take({}).messages.map((m) => m.module), ["other"]);
});
