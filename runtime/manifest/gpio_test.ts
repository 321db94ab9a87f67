import assert from "node:assert/strict";
import { assertIssues } from "./_testing.ts";
import { parseManifest } from "./mod.ts";
import { planDeployment } from "../plan.ts";

/**
 * A gateway whose `estop` module follows pin 3 onto pin 8, over `gpio` (the connectors.gpio body). The module
 * also holds `use:executor:realtime`, last, which an event module needs.
 */
function gateway(gpio: string, capabilities = "[read:gpio:pin_3, write:gpio:pin_8]", trigger = "gpio:pin_3") {
  return `version: 1
device: { id: gw-1 }
policy: { allow: ["read:gpio:*", "write:gpio:*", "use:executor:realtime"] }
connectors:
  gpio:
${gpio}
modules:
  estop:
    wasm: estop.wasm
    capabilities: ${capabilities.replace(/\]$/, ", use:executor:realtime]")}
    schedule: { mode: event, trigger: "${trigger}" }
`;
}

const SYSFS = `    backend: linux-sysfs
    root: /run/kiln/sys/class/gpio
    pins:
      3: { line: 17, direction: in }
      8: { line: 27, direction: out, initial: 0 }`;

Deno.test("a linux-sysfs GPIO bank parses, and the plan carries its lines by pin", () => {
  const manifest = parseManifest(gateway(SYSFS));
  const plan = planDeployment({ ...manifest, file: "/m.yaml", dir: "/", modules: {} });
  assert.deepEqual(plan.gpio, {
    backend: "linux-sysfs",
    root: "/run/kiln/sys/class/gpio",
    pollMs: 10,
    pins: [
      { pin: 3, line: 17, chip: null, direction: "in", activeLow: false, initial: null },
      { pin: 8, line: 27, chip: null, direction: "out", activeLow: false, initial: 0 },
    ],
  });
});

Deno.test("without connectors.gpio, or with backend: sim, modules get the simulated bank", () => {
  const sim = parseManifest(gateway("    backend: sim", "[read:gpio:pin_30]", "gpio:pin_30"));
  assert.equal(planDeployment({ ...sim, file: "/m.yaml", dir: "/", modules: {} }).gpio, null);
});

Deno.test("the sysfs folder must be absolute and outside /sys, /dev and /proc, which Deno opens only with --allow-all", async (t) => {
  for (const root of ["/sys/class/gpio", "/dev/gpio", "class/gpio"]) {
    await t.step(root, () => {
      const text = gateway(SYSFS.replace("/run/kiln/sys/class/gpio", root));
      const [issue] = assertIssues(text, [["connectors.gpio.root", `root: ${root}`]]);
      assert.match(issue!.message, root.startsWith("/") ? /--allow-all.*mount --bind \/sys/ : /absolute/);
    });
  }
});

Deno.test("pins, lines and backends are validated with the field named", async (t) => {
  await t.step("a pin that is not a number", () => {
    assertIssues(gateway(SYSFS.replace("3: { line: 17", "three: { line: 17")), [
      ["connectors.gpio.pins.three", "three: {"],
      // the capability and the event trigger name pin 3, which is gone
      ["modules.estop.capabilities[0]", "capabilities:"],
      ["modules.estop.schedule.trigger", "trigger:"],
    ]);
  });
  await t.step("initial on an input", () => {
    assertIssues(gateway(SYSFS.replace("line: 17, direction: in", "line: 17, direction: in, initial: 1")), [
      ["connectors.gpio.pins.3.initial", "line: 17"],
    ]);
  });
  await t.step("one line for two pins", () => {
    const [issue] = assertIssues(gateway(SYSFS.replace("line: 27", "line: 17")), [
      ["connectors.gpio.pins.8.line", "8: {"],
    ]);
    assert.match(issue!.message, /already pin 3/);
  });
  await t.step("the character device", () => {
    const [issue] = assertIssues(gateway(SYSFS.replace("backend: linux-sysfs", "backend: linux-cdev")), [
      ["connectors.gpio.backend", "backend: linux-cdev"],
    ]);
    assert.match(issue!.message, /not supported yet/);
  });
  await t.step("no pins", () => {
    assertIssues(gateway(SYSFS.split("\n    pins:")[0] + "\n    pins: {}"), [
      ["connectors.gpio.pins", "pins: {}"],
      ["modules.estop.capabilities[0]", "capabilities:"],
      ["modules.estop.capabilities[1]", "capabilities:"],
      ["modules.estop.schedule.trigger", "trigger:"],
    ]);
  });
});

Deno.test("with a Linux bank, triggers and gpio capabilities must name its pins, and writes its outputs", () => {
  const issues = assertIssues(
    gateway(SYSFS, "[read:gpio:*, write:gpio:pin_3, read:gpio:pin_9, write:gpio:*]", "gpio:pin_4"),
    [
      ["modules.estop.capabilities[1]", "capabilities:"],
      ["modules.estop.capabilities[2]", "capabilities:"],
      ["modules.estop.schedule.trigger", "trigger:"],
    ],
  );
  assert.match(issues[0]!.message, /input line/);
  assert.match(issues[1]!.message, /configures no pin 9 \(pins: 3, 8\)/);
  assert.match(issues[2]!.message, /configures no pin 4/);
});

Deno.test("I2C and SPI connectors are refused as not supported yet", () => {
  const text = `version: 1
device: { id: gw-1 }
connectors:
  i2c: { bus: 1 }
  spi: {}
modules: {}
`;
  const issues = assertIssues(text, [["connectors.i2c", "i2c:"], ["connectors.spi", "spi:"]]);
  assert.match(issues[0]!.message, /the "i2c" connector is not supported yet/);
});
