/**
 * The behaviour every {@linkcode GpioBank} shares, as a test suite each backend's test runs with a bank of
 * its own: `runGpioContract("sim", ...)`, `runGpioContract("linux-sysfs", ...)`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { GpioBank } from "./bank.ts";

/** An opened bank with one input pin and one output pin, and a way to drive the input from outside. */
export interface GpioHarness extends AsyncDisposable {
  readonly gpio: GpioBank;
  /** A pin whose level comes from outside. */
  readonly input: number;
  /** A pin modules write. */
  readonly output: number;
  /** A pin number the bank does not have. */
  readonly missing: number;
  /** Sets the input's level from outside (the wire; an operator for the simulated bank). */
  drive(value: 0 | 1): Promise<void>;
  /** The output's level as seen from outside (the wire). */
  observe(): Promise<0 | 1>;
}

/** Registers the shared tests for a backend; `create` makes a fresh, opened harness for each. */
export function runGpioContract(name: string, create: () => Promise<GpioHarness>): void {
  Deno.test(`${name} GPIO: lists its pins, and a pin it does not have is null`, async () => {
    await using h = await create();
    const pins = h.gpio.list().map((p) => p.pin);
    assert.ok(pins.includes(h.input) && pins.includes(h.output));
    assert.deepEqual(pins, [...pins].sort((a, b) => a - b), "listed by pin number");
    assert.equal(h.gpio.get(h.missing), null);
    assert.equal(h.gpio.get(h.output)?.quality, "good");
  });

  Deno.test(`${name} GPIO: a module's write reaches the wire and latches, counted`, async () => {
    await using h = await create();
    h.gpio.set(h.output, 1, "output", 1000);
    assert.equal(await h.observe(), 1);
    const after = h.gpio.get(h.output)!;
    assert.equal(after.value, 1);
    assert.equal(after.setBy, "output");
    assert.equal(after.changedAt, 1000);
    h.gpio.set(h.output, 7, "output", 2000);
    assert.equal(h.gpio.get(h.output)?.value, 1, "any non-zero level is high");
    assert.equal(h.gpio.get(h.output)?.changedAt, 1000, "an unchanged level keeps its change time");
    assert.equal(h.gpio.get(h.output)?.writes, after.writes + 1);
    h.gpio.set(h.output, 0, "output", 3000);
    assert.equal(await h.observe(), 0);
  });

  Deno.test(`${name} GPIO: a write to a pin it does not have is a range error`, async () => {
    await using h = await create();
    assert.throws(() => h.gpio.set(h.missing, 1, "output"), RangeError);
  });

  Deno.test(`${name} GPIO: an input driven from outside is seen after a poll, and a poll reports a change once`, async () => {
    await using h = await create();
    await h.drive(1);
    h.gpio.poll();
    assert.equal(h.gpio.get(h.input)?.value, 1);
    assert.equal(h.gpio.get(h.input)?.setBy, "input");
    assert.deepEqual(h.gpio.poll().filter((c) => c.state.pin === h.input), [], "nothing changed since");
    await h.drive(0);
    h.gpio.poll();
    assert.equal(h.gpio.get(h.input)?.value, 0);
  });

  Deno.test(`${name} GPIO: its status names the backend, connected once open and closed after`, async () => {
    await using h = await create();
    const s = h.gpio.status();
    assert.equal(s.name, "gpio");
    assert.equal(s.kind, h.gpio.backend);
    assert.equal(s.state, "connected");
    assert.equal(s.lastError, null);
    await h.gpio.close();
    assert.equal(h.gpio.status().state, "closed");
  });
}
