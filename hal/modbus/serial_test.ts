import assert from "node:assert/strict";
import { sttyArgs } from "./serial.ts";
import { interFrameDelayMs } from "./rtu.ts";

Deno.test("stty puts the tty in raw mode with the line's speed, character size, parity and stop bits", async (t) => {
  await t.step("8E1 at 19200", () => {
    const args = sttyArgs("/dev/ttyUSB0", { baud: 19200, parity: "even", dataBits: 8, stopBits: 1 });
    assert.deepEqual(args.slice(0, 3), ["-F", "/dev/ttyUSB0", "raw"]);
    for (const flag of ["-echo", "-ixon", "-ixoff", "-crtscts", "clocal", "cread"]) {
      assert.ok(args.includes(flag), flag);
    }
    assert.deepEqual(args.slice(-5), ["19200", "cs8", "parenb", "-parodd", "-cstopb"]);
  });
  await t.step("8O1 and 8N2", () => {
    assert.deepEqual(
      sttyArgs("/dev/ttyS1", { baud: 9600, parity: "odd", dataBits: 8, stopBits: 1 }).slice(-5),
      ["9600", "cs8", "parenb", "parodd", "-cstopb"],
    );
    assert.deepEqual(
      sttyArgs("/dev/ttyS1", { baud: 115200, parity: "none", dataBits: 8, stopBits: 2 }).slice(-4),
      ["115200", "cs8", "-parenb", "cstopb"],
    );
  });
  await t.step("a speed stty would take for something else is refused", () => {
    assert.throws(
      () => sttyArgs("/dev/ttyS1", { baud: 9601, parity: "none", dataBits: 8, stopBits: 2 }),
      RangeError,
    );
  });
});

Deno.test("the silence between RTU frames is 3.5 characters, and 1.75 ms above 19200 baud (§2.5.1.1)", () => {
  // 11 bits a character (start, 8 data, parity, stop): 3.5 * 11 / 9600 s.
  assert.ok(
    Math.abs(interFrameDelayMs({ baud: 9600, parity: "even", dataBits: 8, stopBits: 1 }) - 4.0104) < 1e-3,
  );
  assert.ok(
    Math.abs(interFrameDelayMs({ baud: 19200, parity: "none", dataBits: 8, stopBits: 2 }) - 2.0052) < 1e-3,
  );
  assert.equal(interFrameDelayMs({ baud: 115200, parity: "even", dataBits: 8, stopBits: 1 }), 1.75);
});
