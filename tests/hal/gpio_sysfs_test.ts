/**
 * The sysfs GPIO backend against a FAKE sysfs folder (`tests/fakes/fake_sysfs_gpio.ts`): ordinary files in
 * a temporary directory, with a stand-in for the kernel's `export`. These tests show what Kiln writes and
 * reads, and how it reports a folder or line it cannot use; they have not run against real GPIO hardware
 * (this VM has no GPIO at all).
 */
import assert from "node:assert/strict";
import {
  createSysfsGpio,
  GpioConnectorSchema,
  GpioDirectionError,
  GpioUnavailableError,
  type SysfsGpioConfig,
  type SysfsGpioOptions,
  toGpioConfig,
} from "../../hal/gpio/mod.ts";
import { runGpioContract } from "../../hal/gpio/_contract.ts";
import { createFakeSysfsGpio, type FakeSysfsGpioOptions } from "../fakes/fake_sysfs_gpio.ts";
import { SimPlant } from "../../runtime/io/plant.ts";
import type { InputValue } from "../../runtime/executor/protocol.ts";
import { waitFor } from "../_helpers.ts";

/** The bank of the examples: pin 3 is input GPIO 17, pin 8 output GPIO 27. */
function config(root: string, pins: Record<string, unknown> = {}, extra = {}): SysfsGpioConfig {
  return toGpioConfig(GpioConnectorSchema.parse({
    backend: "linux-sysfs",
    root,
    pins: { 3: { line: 17, direction: "in" }, 8: { line: 27, direction: "out" }, ...pins },
    ...extra,
  }))!;
}

async function opened(
  fakeOptions: FakeSysfsGpioOptions = {},
  pins: Record<string, unknown> = {},
  options: SysfsGpioOptions = {},
) {
  const fake = await createFakeSysfsGpio(fakeOptions);
  const gpio = createSysfsGpio(config(fake.root, pins), options);
  try {
    await gpio.open();
  } catch (err) {
    await fake[Symbol.asyncDispose]();
    throw err;
  }
  return {
    fake,
    gpio,
    async [Symbol.asyncDispose]() {
      await gpio.close();
      await fake[Symbol.asyncDispose]();
    },
  };
}

runGpioContract("linux-sysfs (fake folder)", async () => {
  const { fake, gpio, [Symbol.asyncDispose]: dispose } = await opened();
  return {
    gpio,
    input: 3,
    output: 8,
    missing: 4,
    drive: (value) => fake.setValue(17, value),
    observe: () => fake.value(27),
    [Symbol.asyncDispose]: dispose,
  };
});

Deno.test("opening exports each line, sets its polarity and direction, and reads the inputs", async () => {
  await using t = await opened({}, { 5: { line: 22, direction: "in", active_low: true } });
  assert.deepEqual(t.fake.exports, [17, 22, 27], "exported through the export file, by pin order");
  assert.equal(await t.fake.attribute(17, "direction"), "in");
  assert.equal(await t.fake.attribute(17, "active_low"), "0");
  assert.equal(await t.fake.attribute(22, "active_low"), "1");
  assert.equal(await t.fake.attribute(27, "direction"), "low", "an output starts at 0 without a glitch");
  assert.deepEqual(t.gpio.list().map((p) => [p.pin, p.value, p.setBy, p.quality]), [
    [3, 0, "input", "good"],
    [5, 0, "input", "good"],
    [8, 0, "output", "good"],
  ]);
  assert.equal(t.gpio.status().state, "connected");
});

Deno.test("an output's initial level is written as a raw wire level, inverted when active-low", async () => {
  await using t = await opened({}, {
    8: { line: 27, direction: "out", initial: 1 },
    9: { line: 5, direction: "out", initial: 1, active_low: true },
  });
  assert.equal(await t.fake.attribute(27, "direction"), "high");
  assert.equal(
    await t.fake.attribute(5, "direction"),
    "low",
    "logical 1 on an active-low line is a low wire",
  );
  assert.equal(t.gpio.get(9)?.value, 1);
});

Deno.test("a line already exported is used as it is: not exported again, and an output keeps its level", async () => {
  await using t = await opened({ exported: { 27: { direction: "out", value: 1 } } });
  assert.deepEqual(t.fake.exports, [17], "only the line that was not exported yet");
  assert.equal(await t.fake.attribute(27, "direction"), "out", "not rewritten: no pulse on restart");
  assert.equal(t.gpio.get(8)?.value, 1);
});

Deno.test("a chip label and offset name the line at the chip's base plus the offset", async () => {
  const chips = [{ label: "pinctrl-bcm2711", base: 512, ngpio: 58 }, {
    label: "expander",
    base: 570,
    ngpio: 8,
  }];
  await using t = await opened({ chips }, {
    3: { chip: "pinctrl-bcm2711", line: 17, direction: "in" },
    8: { chip: "expander", line: 2, direction: "out" },
  });
  assert.deepEqual(t.fake.exports, [529, 572]);

  await assert.rejects(
    () => opened({ chips }, { 3: { chip: "pinctrl-bcm2835", line: 17, direction: "in" } }),
    (err) => err instanceof GpioUnavailableError && err.code === "gpio_unavailable" && err.line === null,
  );
  await assert.rejects(
    () => opened({ chips }, { 8: { chip: "expander", line: 8, direction: "out" } }),
    (err) => err instanceof GpioUnavailableError && err.path.endsWith("/gpiochip570"),
  );
  await assert.rejects(
    () =>
      opened({ chips }, {
        8: { chip: "pinctrl-bcm2711", line: 17, direction: "out" },
        3: { line: 529, direction: "in" },
      }),
    (err) => err instanceof GpioUnavailableError && err.line === 529,
    "two pins on one line",
  );
});

Deno.test("a missing folder, a folder that is not sysfs GPIO, a refused export and a line that never appears are GpioUnavailableErrors naming the path", async (t) => {
  await t.step("missing folder", async () => {
    const dir = await Deno.makeTempDir();
    const gpio = createSysfsGpio(config(`${dir}/sys/class/gpio`));
    const err = await gpio.open().then(() => null, (e) => e);
    assert.ok(err instanceof GpioUnavailableError);
    assert.equal(err.code, "gpio_unavailable");
    assert.equal(err.path, `${dir}/sys/class/gpio`);
    assert.equal(err.line, null);
    assert.equal(gpio.status().state, "error");
    assert.equal(gpio.status().lastError, err.message);
    await Deno.remove(dir, { recursive: true });
  });
  await t.step("not a sysfs GPIO folder", async () => {
    const dir = await Deno.makeTempDir();
    await assert.rejects(
      () => createSysfsGpio(config(dir)).open(),
      (err) => err instanceof GpioUnavailableError && err.path === dir,
    );
    await Deno.remove(dir, { recursive: true });
  });
  await t.step("export refused", async () => {
    await assert.rejects(
      () => opened({ refuseExports: true }),
      (err) => err instanceof GpioUnavailableError && err.line === 17 && err.path.endsWith("/export"),
    );
  });
  await t.step("a line that never appears", async () => {
    await assert.rejects(
      () => opened({ ignore: [27] }, {}, { exportWaitMs: 50 }),
      (err) =>
        err instanceof GpioUnavailableError && err.line === 27 && err.path.endsWith("/gpio27/direction"),
    );
  });
});

Deno.test("a poll reports edges of inputs, and a garbled read marks the pin bad until it reads again", async () => {
  await using t = await opened();
  assert.deepEqual(t.gpio.poll(), []);
  await t.fake.setValue(17, 1);
  const up = t.gpio.poll(5000);
  assert.deepEqual(up.map((c) => [c.state.pin, c.state.value, c.edge]), [[3, 1, true]]);
  assert.equal(up[0]!.state.changedAt, 5000);

  await t.fake.setValue(17, "garbage");
  const bad = t.gpio.poll();
  assert.deepEqual(bad.map((c) => [c.state.pin, c.state.value, c.state.quality, c.edge]), [[
    3,
    1,
    "bad",
    false,
  ]]);
  assert.equal(t.gpio.status().state, "error");
  assert.equal(t.gpio.status().errors, 1);
  assert.match(t.gpio.status().lastError ?? "", /gpio17\/value/);
  assert.deepEqual(t.gpio.poll(), [], "still bad: reported once");
  assert.equal(t.gpio.status().errors, 2, "every failed read is counted");

  await t.fake.setValue(17, 0);
  const back = t.gpio.poll();
  assert.deepEqual(back.map((c) => [c.state.pin, c.state.value, c.state.quality, c.edge]), [[
    3,
    0,
    "good",
    true,
  ]]);
  assert.equal(t.gpio.status().state, "connected");
  assert.notEqual(t.gpio.status().lastError, null, "the last error is kept after recovery");
});

Deno.test("a hardware line refuses writes to inputs and levels set from outside", async () => {
  await using t = await opened();
  assert.throws(() => t.gpio.set(3, 1, "output"), GpioDirectionError);
  assert.throws(() => t.gpio.set(8, 1, "input"), GpioDirectionError);
  assert.equal(await t.fake.value(17), 0);
  assert.equal(await t.fake.value(27), 0);
});

Deno.test("the runtime's sources poll a sysfs bank: an input edge fires the edge callback and the inputs, a module write reaches the line", async () => {
  await using fake = await createFakeSysfsGpio();
  const edges: [number, number][] = [];
  const inputs: Record<string, InputValue> = {};
  const sources = new SimPlant({
    sensors: [],
    gpio: config(fake.root, {}, { poll_ms: 5 }),
    onSamples: () => {},
    onInputs: (values) => Object.assign(inputs, values),
    onGpioEdge: (pin, value) => edges.push([pin, value]),
  });
  await sources.open();
  sources.start();
  try {
    assert.equal(sources.gpioStatus()?.kind, "linux-sysfs");
    await fake.setValue(17, 1);
    await waitFor("the edge of pin 3", () => edges.some(([pin, v]) => pin === 3 && v === 1));
    await waitFor("pin 3's input", () => inputs["gpio:pin_3"]?.value === 1);
    assert.equal(inputs["gpio:pin_3"]?.quality, "good");

    assert.equal(sources.setGpio(8, 1, "output"), true);
    assert.equal(await fake.value(27), 1, "written before setGpio returned");
    await waitFor("pin 8's edge", () => edges.some(([pin, v]) => pin === 8 && v === 1));
    assert.equal(sources.setGpio(3, 1, "output"), false, "an input line is not written");
    assert.equal(sources.gpioStatus()?.errors, 1, "a module's refused write is counted");
    assert.equal(sources.gpioStatus()?.state, "connected", "the line itself is fine");
    assert.equal(sources.setGpio(3, 1, "input"), false, "nor is a hardware line set from outside");
    assert.equal(sources.gpioStatus()?.errors, 1, "an operator's attempt is refused, not counted");
  } finally {
    await sources.close();
  }
  assert.equal(sources.gpioStatus()?.state, "closed");
});
