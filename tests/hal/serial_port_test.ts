/**
 * Kiln's tty port (`hal/modbus/serial.ts`: stty and two dd processes) on a real serial line: a pty pair
 * joined by socat in another process. Both ends are Kiln ports here; the RTU tests put libmodbus on one.
 */
import assert from "node:assert/strict";
import { createTtyPort, type SerialLine, type SerialPort, SerialPortError } from "../../hal/modbus/mod.ts";
import { waitFor } from "../_helpers.ts";
import { startPtyPair } from "./_serial_line.ts";

const LINE = { baud: 9600, parity: "none", dataBits: 8, stopBits: 1 } as const satisfies Omit<
  SerialLine,
  "path"
>;

/** Collects what a port reads. */
function collect(port: SerialPort): { bytes: () => number[] } {
  const got: number[] = [];
  port.onData((chunk) => got.push(...chunk));
  return { bytes: () => got };
}

Deno.test("bytes written at one end of a serial line arrive at the other, both ways, all 256 values", async () => {
  const dir = await Deno.makeTempDir();
  await using pair = await startPtyPair(dir);
  await using a = createTtyPort({ path: pair.a, ...LINE });
  await using b = createTtyPort({ path: pair.b, ...LINE });
  const atA = collect(a);
  const atB = collect(b);
  await a.open();
  await b.open();
  assert.equal(a.isOpen, true);
  // Raw mode: no byte is translated, eaten or echoed (CR, NL, ^C, ^D, ^S, XON/XOFF, DEL, 0xff...).
  const every = Uint8Array.from({ length: 256 }, (_, i) => i);
  await a.write(every);
  await waitFor("256 bytes at b", () => atB.bytes().length >= 256);
  assert.deepEqual(atB.bytes(), [...every]);
  await b.write(Uint8Array.of(0x01, 0x03, 0x02, 0x00, 0x2a));
  await waitFor("5 bytes at a", () => atA.bytes().length >= 5);
  assert.deepEqual(atA.bytes(), [0x01, 0x03, 0x02, 0x00, 0x2a]);
  assert.equal(atA.bytes().length + atB.bytes().length, 261, "nothing echoed back");
});

Deno.test("closing a port whose read is pending on a silent line returns, and the port opens again", async () => {
  const dir = await Deno.makeTempDir();
  await using pair = await startPtyPair(dir);
  const port = createTtyPort({ path: pair.b, ...LINE });
  await port.open();
  // Nothing will ever arrive: the reading dd is blocked in read(2). The test's sanitizers fail if a child
  // process or its pipes outlive close().
  await port.close();
  assert.equal(port.isOpen, false);
  await assert.rejects(port.write(Uint8Array.of(1)), SerialPortError);
  await port.open();
  await using other = createTtyPort({ path: pair.a, ...LINE });
  const got = collect(port);
  await other.open();
  await other.write(Uint8Array.of(42));
  await waitFor("a byte after reopening", () => got.bytes().length === 1);
  await port.close();
});

Deno.test("a line that goes away (socat killed: both ptys hang up) is reported as lost, and can be reopened when it is back", async () => {
  const dir = await Deno.makeTempDir();
  let pair = await startPtyPair(dir);
  await using port = createTtyPort({ path: pair.b, ...LINE });
  const lost: SerialPortError[] = [];
  port.onLost((cause) => lost.push(cause));
  await port.open();
  try {
    await pair.stop();
    await waitFor("the port lost", () => lost.length === 1);
    assert.equal(port.isOpen, false);
    assert.equal(lost[0]!.code, "serial_port");
    assert.equal(lost[0]!.path, pair.b);
    const gone = await port.open().catch((e) => e);
    assert.ok(gone instanceof SerialPortError, String(gone));
    assert.match(gone.reason, /No such file or directory/);

    pair = await startPtyPair(dir); // the same links, new ptys: the adapter plugged back in
    await port.open();
    await using other = createTtyPort({ path: pair.a, ...LINE });
    const got = collect(port);
    await other.open();
    await other.write(Uint8Array.of(7, 8, 9));
    await waitFor("bytes on the new line", () => got.bytes().length === 3);
    assert.equal(lost.length, 1, "a close is not a loss");
  } finally {
    await port.close();
    await pair.stop();
  }
});

Deno.test("opening what is not a usable tty fails with a SerialPortError that says why", async (t) => {
  const dir = await Deno.makeTempDir();
  await t.step("a path that does not exist", async () => {
    await using port = createTtyPort({ path: `${dir}/ttyUSB9`, ...LINE });
    const err = await port.open().catch((e) => e);
    assert.ok(err instanceof SerialPortError);
    assert.equal(err.code, "serial_port");
    assert.match(err.reason, /No such file or directory/);
    assert.equal(port.isOpen, false);
  });
  await t.step("a regular file", async () => {
    await Deno.writeTextFile(`${dir}/file`, "");
    await using port = createTtyPort({ path: `${dir}/file`, ...LINE });
    const err = await port.open().catch((e) => e);
    assert.ok(err instanceof SerialPortError);
    assert.match(err.reason, /Inappropriate ioctl for device/);
  });
});

Deno.test({
  name: "without permission to run stty, opening says which programs a serial line needs",
  permissions: { run: ["dd"], read: true },
  async fn() {
    await using port = createTtyPort({ path: "/dev/ttyS0", ...LINE });
    const err = await port.open().catch((e) => e);
    assert.ok(err instanceof SerialPortError);
    assert.match(err.reason, /no permission to run stty \(a serial line needs --allow-run=stty,dd\)/);
  },
});
