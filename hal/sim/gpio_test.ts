import assert from "node:assert/strict";
import { runGpioContract } from "../gpio/_contract.ts";
import { SimGpio } from "./gpio.ts";

runGpioContract("simulated", async () => {
  const gpio = new SimGpio({ pins: 8 });
  await gpio.open();
  return {
    gpio,
    input: 3,
    output: 5,
    missing: 8,
    drive: (value) => Promise.resolve(gpio.set(3, value, "input")),
    observe: () => Promise.resolve(gpio.get(5)!.value),
    [Symbol.asyncDispose]: () => gpio.close(),
  };
});

Deno.test("simulated GPIO pins start low and latch what is written", () => {
  const gpio = new SimGpio({ pins: 8 });
  assert.equal(gpio.list().length, 8);
  assert.equal(gpio.get(3)?.value, 0);
  gpio.set(3, 1, "output", 1000);
  assert.deepEqual(gpio.get(3), {
    pin: 3,
    value: 1,
    setBy: "output",
    changedAt: 1000,
    writes: 1,
    quality: "good",
  });
  gpio.set(3, 7, "output", 2000);
  assert.equal(gpio.get(3)?.value, 1, "any non-zero level is high");
  assert.equal(gpio.get(3)?.changedAt, 1000, "an unchanged level keeps its change time");
  assert.equal(gpio.get(3)?.writes, 2);
});

Deno.test("a pin outside the simulated bank is a range error, and so is a bad bank size", () => {
  const gpio = new SimGpio({ pins: 4 });
  assert.equal(gpio.get(4), null);
  assert.throws(() => gpio.set(4, 1, "input"), RangeError);
  assert.throws(() => new SimGpio({ pins: 0 }), RangeError);
});

Deno.test("a bank attached to another's buffer sees and drives the same pins", () => {
  const gpio = new SimGpio({ pins: 16 });
  const other = SimGpio.attach(gpio.buffer);
  assert.equal(other.size, 16);
  other.set(8, 1, "output", 5000);
  assert.deepEqual(gpio.get(8), {
    pin: 8,
    value: 1,
    setBy: "output",
    changedAt: 5000,
    writes: 1,
    quality: "good",
  });
  gpio.set(3, 1, "input", 6000);
  assert.equal(other.get(3)?.value, 1);
  assert.equal(other.get(16), null);
});
