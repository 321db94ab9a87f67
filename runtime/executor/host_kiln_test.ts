import assert from "node:assert/strict";
import { createKilnImports, type InstanceSink, type KilnHost } from "./host_kiln.ts";
import { ModuleAccount } from "./account.ts";
import { Status } from "../abi.ts";

/** `kiln.output` and `kiln.output_array` over a fake linear memory, recording what reaches the sink. */
function outputs() {
  const memory = new Uint8Array(4096);
  const seen: [key: string, value: number][] = [];
  const arrays: string[] = [];
  const arrayValues: number[][] = [];
  const sink = {
    output: (_module: string, key: string, value: number) => void seen.push([key, value]),
    outputArray: (_module: string, key: string, values: Float32Array) => {
      arrays.push(key);
      arrayValues.push(Array.from(values));
    },
  } as unknown as InstanceSink;
  const host = {
    spec: { name: "m" },
    stats: {},
    sink,
    grants: { coversClass: () => false },
    account: new ModuleAccount({ maxOutputKeys: 1000 }),
    bytes: (ptr: number, len: number) => ptr + len > memory.length ? null : memory.subarray(ptr, ptr + len),
  } as unknown as KilnHost;
  const kiln = createKilnImports(host) as unknown as {
    output(ptr: number, len: number, value: number): number;
    output_array(ptr: number, len: number, data: number, count: number): number;
  };
  const put = (ptr: number, text: string) => {
    const bytes = new TextEncoder().encode(text);
    memory.set(bytes, ptr);
    return bytes.length;
  };
  return { kiln, put, seen, arrays, arrayValues, memory };
}

Deno.test("an output key is read again whenever the bytes at its address change", () => {
  const { kiln, put, seen, arrays } = outputs();
  const len = put(100, "rms_g");
  assert.equal(kiln.output(100, len, 1), 0);
  assert.equal(kiln.output(100, len, 2), 0);
  put(100, "peak_"); // same address, same length, other bytes
  assert.equal(kiln.output(100, len, 3), 0);
  put(100, "__proto__");
  assert.equal(kiln.output(100, 9, 4), 0);
  assert.equal(kiln.output(100, 4, 5), 0); // a shorter key at the same address: "__pr"
  assert.deepEqual(seen, [["rms_g", 1], ["rms_g", 2], ["peak_", 3], ["__proto__", 4], ["__pr", 5]]);
  put(200, "spectrum");
  assert.equal(kiln.output_array(200, 8, 0, 4), 0);
  put(200, "spectrux");
  assert.equal(kiln.output_array(200, 8, 0, 4), 0);
  assert.deepEqual(arrays, ["spectrum", "spectrux"]);
});

Deno.test("output keys at more addresses than are remembered are all read correctly", () => {
  const { kiln, put, seen } = outputs();
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 200; i++) {
      const len = put(i * 16, `key_${round}_${i}`);
      assert.equal(kiln.output(i * 16, len, i), 0);
    }
  }
  assert.equal(seen.length, 400);
  seen.forEach(([key, value], n) => assert.equal(key, `key_${Math.floor(n / 200)}_${value}`));
});

Deno.test("an output key outside memory is refused, and invalid UTF-8 is decoded with replacements", () => {
  const { kiln, seen, memory } = outputs();
  assert.equal(kiln.output(4000, 200, 1), Status.EFAULT);
  assert.equal(kiln.output(3000, 2, 1), 0); // two zero bytes
  memory.set([0xff, 0xfe], 3000); // invalid UTF-8 at the same address: read again, not the remembered text
  assert.equal(kiln.output(3000, 2, 2), 0);
  assert.deepEqual(seen, [["\0\0", 1], ["\ufffd\ufffd", 2]]);
});

Deno.test("an array output hands the sink the values of each call, at the length of each call", () => {
  const { kiln, put, arrays, arrayValues, memory } = outputs();
  put(0, "spectrum");
  const floats = new Float32Array(memory.buffer, 1024, 8);
  floats.set([1, 2, 3, 4]);
  assert.equal(kiln.output_array(0, 8, 1024, 4), 0);
  floats.set([5, 6, 7, 8]);
  assert.equal(kiln.output_array(0, 8, 1024, 4), 0);
  floats.set([9, 10, 11, 12, 13, 14]);
  assert.equal(kiln.output_array(0, 8, 1024, 6), 0);
  assert.equal(kiln.output_array(0, 8, 1024, 2), 0);
  assert.deepEqual(arrays, ["spectrum", "spectrum", "spectrum", "spectrum"]);
  assert.deepEqual(arrayValues, [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12, 13, 14], [9, 10]]);
});
