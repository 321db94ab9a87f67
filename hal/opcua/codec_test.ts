import assert from "node:assert/strict";
import { DataType, Variant, VariantArrayType } from "node-opcua-client";
import { toNumber, toVariant } from "./codec.ts";
import { OpcuaUnsupportedTypeError } from "./errors.ts";

Deno.test("numeric and Boolean values become numbers; strings, arrays and nulls do not", () => {
  assert.equal(toNumber(new Variant({ dataType: DataType.Double, value: 21.5 })), 21.5);
  assert.equal(toNumber(new Variant({ dataType: DataType.Int16, value: -7 })), -7);
  assert.equal(toNumber(new Variant({ dataType: DataType.Boolean, value: true })), 1);
  assert.equal(toNumber(new Variant({ dataType: DataType.Boolean, value: false })), 0);
  const uint64 = { dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [1, 5] };
  assert.equal(toNumber(new Variant(uint64)), 2 ** 32 + 5);
  const uint64s = { dataType: DataType.UInt64, arrayType: VariantArrayType.Array, value: [[0, 1], [0, 2]] };
  assert.equal(toNumber(new Variant(uint64s)), null);
  assert.equal(toNumber(new Variant({ dataType: DataType.String, value: "7" })), null);
  assert.equal(toNumber(new Variant({ dataType: DataType.Null })), null);
  assert.equal(
    toNumber(new Variant({ dataType: DataType.Double, arrayType: VariantArrayType.Array, value: [1, 2] })),
    null,
  );
});

Deno.test("a write keeps the node's type and refuses what it cannot hold", () => {
  const check = (value: number, dataType: DataType) => toVariant(value, dataType, "plc1", "ns=1;s=X");
  assert.deepEqual([check(1, DataType.Boolean).value, check(1, DataType.Boolean).dataType], [
    true,
    DataType.Boolean,
  ]);
  assert.equal(check(-128, DataType.SByte).dataType, DataType.SByte);
  assert.equal(check(4_294_967_295, DataType.UInt32).value, 4_294_967_295);
  assert.equal(check(0.1, DataType.Float).dataType, DataType.Float);
  assert.throws(() => check(2, DataType.Boolean), RangeError);
  assert.throws(() => check(256, DataType.Byte), RangeError);
  assert.throws(() => check(1.5, DataType.Int32), RangeError);
  assert.throws(() => check(Infinity, DataType.Double), RangeError);
  assert.throws(() => check(1e39, DataType.Float), RangeError);
  assert.throws(() => check(1, DataType.String), OpcuaUnsupportedTypeError);
  assert.throws(() => check(1, DataType.Int64), OpcuaUnsupportedTypeError);
});
