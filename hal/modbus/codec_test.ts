import assert from "node:assert/strict";
import {
  applyScaling,
  decodeRegisters,
  encodeRegisters,
  MODBUS_ORDERS,
  type Order,
  registerCount,
  type RegisterDataType,
  type RegisterLayout,
  removeScaling,
} from "./codec.ts";

const layout = (
  type: RegisterDataType,
  byteOrder: Order = "big",
  wordOrder: Order = "big",
): RegisterLayout => ({
  type,
  byteOrder,
  wordOrder,
});

Deno.test("registers are decoded as the Modbus spec's examples send them", async (t) => {
  await t.step("§6.3 Read Holding Registers: register 108 holds 0x022B = 555, 110 holds 0x0064 = 100", () => {
    // Response PDU 03 06 02 2B 00 00 00 64: three big-endian registers (§4.2).
    const pdu = [0x03, 0x06, 0x02, 0x2b, 0x00, 0x00, 0x00, 0x64];
    const registers = [0, 1, 2].map((i) => (pdu[2 + 2 * i]! << 8) | pdu[3 + 2 * i]!);
    assert.equal(decodeRegisters([registers[0]!], layout("uint16")), 555);
    assert.equal(decodeRegisters([registers[1]!], layout("int16")), 0);
    assert.equal(decodeRegisters([registers[2]!], layout("uint16")), 100);
  });
  await t.step("§6.6 Write Single Register: the value 3 is sent as 00 03", () => {
    assert.deepEqual(encodeRegisters(3, layout("uint16")), [0x0003]);
  });
  await t.step("IEEE 754 single precision: pi is 0x40490FDB, 123.456 is 0x42F6E979", () => {
    assert.equal(decodeRegisters([0x4049, 0x0fdb], layout("float32")), Math.fround(Math.PI));
    assert.equal(decodeRegisters([0x42f6, 0xe979], layout("float32")), Math.fround(123.456));
  });
});

Deno.test("the four byte and word orders put 0xAABBCCDD on the wire as the module doc says", () => {
  const cases: [Order, Order, number[]][] = [
    ["big", "big", [0xaabb, 0xccdd]], // ABCD
    ["big", "little", [0xccdd, 0xaabb]], // CDAB
    ["little", "big", [0xbbaa, 0xddcc]], // BADC
    ["little", "little", [0xddcc, 0xbbaa]], // DCBA
  ];
  for (const [byteOrder, wordOrder, wire] of cases) {
    assert.deepEqual(encodeRegisters(0xaabbccdd, layout("uint32", byteOrder, wordOrder)), wire);
    assert.equal(decodeRegisters(wire, layout("uint32", byteOrder, wordOrder)), 0xaabbccdd);
  }
  // Word order means nothing to a 16-bit value; byte order swaps its two bytes.
  assert.deepEqual(encodeRegisters(0x1234, layout("uint16", "big", "little")), [0x1234]);
  assert.deepEqual(encodeRegisters(0x1234, layout("uint16", "little", "big")), [0x3412]);
});

Deno.test("every type round-trips in every byte and word order", async (t) => {
  const values: Record<RegisterDataType, number[]> = {
    int16: [-32768, -1234, -1, 0, 1, 255, 256, 32767],
    uint16: [0, 1, 255, 256, 54321, 65535],
    int32: [-2147483648, -123456789, -65536, -1, 0, 1, 65535, 65536, 2147483647],
    uint32: [0, 1, 65535, 65536, 3_000_000_000, 4294967295],
    float32: [
      0,
      -0.5,
      1.5,
      Math.fround(123.456),
      Math.fround(-9876.54),
      3.4028234663852886e38,
      Math.fround(1.4e-45),
    ],
  };
  for (const [type, list] of Object.entries(values) as [RegisterDataType, number[]][]) {
    await t.step(type, () => {
      for (const byteOrder of MODBUS_ORDERS) {
        for (const wordOrder of MODBUS_ORDERS) {
          const l = layout(type, byteOrder, wordOrder);
          for (const value of list) {
            const registers = encodeRegisters(value, l);
            assert.equal(registers.length, registerCount(type));
            for (const r of registers) assert.ok(Number.isInteger(r) && r >= 0 && r <= 0xffff);
            assert.equal(decodeRegisters(registers, l), value, `${type} ${byteOrder}/${wordOrder} ${value}`);
          }
        }
      }
    });
  }
});

Deno.test("signed types decode the two's complement of the raw registers", () => {
  assert.equal(decodeRegisters([0xfb2e], layout("int16")), -1234);
  assert.equal(decodeRegisters([0xfb2e], layout("uint16")), 0xfb2e);
  assert.equal(decodeRegisters([0xf8a4, 0x32eb], layout("int32")), -123456789);
  assert.equal(decodeRegisters([0x32eb, 0xf8a4], layout("int32", "big", "little")), -123456789);
  assert.equal(decodeRegisters([0xffff, 0xffff], layout("uint32")), 4294967295);
  assert.equal(decodeRegisters([0xbf00, 0x0000], layout("float32")), -0.5);
});

Deno.test("values a type cannot hold are refused, never wrapped", () => {
  assert.throws(() => encodeRegisters(32768, layout("int16")), RangeError);
  assert.throws(() => encodeRegisters(-1, layout("uint16")), RangeError);
  assert.throws(() => encodeRegisters(65536, layout("uint16")), RangeError);
  assert.throws(() => encodeRegisters(1.5, layout("int32")), RangeError);
  assert.throws(() => encodeRegisters(2 ** 32, layout("uint32")), RangeError);
  assert.throws(() => encodeRegisters(Number.NaN, layout("float32")), RangeError);
  assert.throws(() => encodeRegisters(Infinity, layout("float32")), RangeError);
  assert.throws(() => encodeRegisters(1e39, layout("float32")), RangeError);
  assert.throws(() => encodeRegisters("1" as unknown as number, layout("uint16")), TypeError);
  assert.throws(() => decodeRegisters([1], layout("float32")), RangeError);
  assert.throws(() => decodeRegisters([70000], layout("uint16")), RangeError);
});

Deno.test("scale and offset map raw values to engineering values and back", async (t) => {
  await t.step("a temperature in tenths of a degree", () => {
    const tenths = { scale: 0.1, offset: 0 };
    assert.equal(applyScaling(2345, tenths), 234.5);
    assert.equal(removeScaling(234.5, tenths, "int16"), 2345);
    // 23.4 / 0.1 is 233.99999999999997 in binary floating point: integer types round to the resolution.
    assert.equal(removeScaling(23.4, tenths, "int16"), 234);
  });
  await t.step("a 4-20 mA transmitter scaled to -50..150 °C over raw 0..16000", () => {
    const loop = { scale: 200 / 16000, offset: -50 };
    assert.equal(applyScaling(0, loop), -50);
    assert.equal(applyScaling(16000, loop), 150);
    assert.equal(applyScaling(4000, loop), 0);
    assert.equal(removeScaling(0, loop, "uint16"), 4000);
  });
  await t.step("halves round away from zero, and a float32 is not rounded", () => {
    const unit = { scale: 1, offset: 0 };
    assert.equal(removeScaling(2.5, unit, "int16"), 3);
    assert.equal(removeScaling(-2.5, unit, "int16"), -3);
    assert.ok(Object.is(removeScaling(-0.4, unit, "int16"), 0));
    assert.equal(removeScaling(2.5, unit, "float32"), 2.5);
    assert.equal(removeScaling(10, { scale: 4, offset: 0 }, "float32"), 2.5);
  });
  await t.step("a scale of 0 or a value that is not finite cannot be written", () => {
    assert.throws(() => removeScaling(1, { scale: 0, offset: 0 }, "int16"), RangeError);
    assert.throws(() => removeScaling(Number.NaN, { scale: 1, offset: 0 }, "int16"), RangeError);
  });
});
