import assert from "node:assert/strict";
import { wat } from "../../tests/fixtures/wasm/wat.ts";
import {
  createWasiImports,
  isWasiFunctionGranted,
  MAX_IOVECS,
  MAX_LINE_BYTES,
  WASI_FUNCTIONS,
  WASI_NAMESPACE,
  WasiErrno,
  WasiExit,
} from "./host_wasi.ts";

const { SUCCESS, BADF, FAULT, INVAL, SPIPE, NOTCAPABLE } = WasiErrno;
const PAGE = 65536;

/**
 * A module that imports every WASI function and exports a wrapper of the same signature calling it, so the
 * tests call the host the way a module does: through Wasm, with i32 arguments wrapped to 32 bits.
 */
const HARNESS = new WebAssembly.Module(wat(`(module
  ${
  Object.entries(WASI_FUNCTIONS).map(([name, sig]) =>
    `(import "${WASI_NAMESPACE}" "${name}" (func $${name} ${
      sig.params.map((t) => `(param ${t})`).join(" ")
    } ${sig.results.map((t) => `(result ${t})`).join(" ")}))`
  ).join("\n  ")
}
  (memory (export "memory") 1 64)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  ${
  Object.entries(WASI_FUNCTIONS).map(([name, sig]) =>
    `(func (export "${name}") ${sig.params.map((t) => `(param ${t})`).join(" ")} ${
      sig.results.map((t) => `(result ${t})`).join(" ")
    } (call $${name} ${sig.params.map((_, i) => `(local.get ${i})`).join(" ")}))`
  ).join("\n  ")
})`));

interface Harness {
  call(name: string, ...args: (number | bigint)[]): number;
  memory: WebAssembly.Memory;
  logs: [string, string][];
  denials: [string, string][];
  clocks: { monotonic: bigint; realtime: bigint };
  bytes(): Uint8Array;
  view(): DataView;
  /** Writes UTF-8 text at `ptr`; returns its length in bytes. */
  put(ptr: number, text: string): number;
  /** Writes `(buf, len)` pairs as an iovec array at `ptr`. */
  iovecs(ptr: number, list: [number, number][]): void;
}

function createHarness(): Harness {
  const logs: [string, string][] = [];
  const denials: [string, string][] = [];
  const clocks = { monotonic: 5_000n, realtime: 1_700_000_000_123_456_789n };
  let memory: WebAssembly.Memory | null = null;
  const imports = createWasiImports({
    memory: () => memory!,
    log: (stream, text) => logs.push([stream, text]),
    denied: (call, detail) => denials.push([call, detail]),
    monotonicNs: () => clocks.monotonic,
    realtimeNs: () => clocks.realtime,
  });
  const instance = new WebAssembly.Instance(HARNESS, { [WASI_NAMESPACE]: imports });
  const exports = instance.exports as Record<string, (...args: unknown[]) => unknown>;
  memory = instance.exports.memory as WebAssembly.Memory;
  const h: Harness = {
    call: (name, ...args) => Number(exports[name]!(...args)),
    memory,
    logs,
    denials,
    clocks,
    bytes: () => new Uint8Array(memory!.buffer),
    view: () => new DataView(memory!.buffer),
    put: (ptr, text) => {
      const encoded = new TextEncoder().encode(text);
      h.bytes().set(encoded, ptr);
      return encoded.length;
    },
    iovecs: (ptr, list) => {
      list.forEach(([buf, len], i) => {
        h.view().setUint32(ptr + i * 8, buf, true);
        h.view().setUint32(ptr + i * 8 + 4, len, true);
      });
    },
  };
  return h;
}

/** Writes `text` to `fd` through one iovec; returns the errno and nwritten. */
function write(h: Harness, fd: number, text: string): { rc: number; nwritten: number } {
  const len = h.put(1024, text);
  h.iovecs(16, [[1024, len]]);
  h.view().setUint32(8, 0xdead, true);
  const rc = h.call("fd_write", fd, 16, 1, 8);
  return { rc, nwritten: h.view().getUint32(8, true) };
}

Deno.test("fd_write to stdout hands each complete line to log and reports the bytes written", () => {
  const h = createHarness();
  assert.deepEqual(write(h, 1, "hello\nworld\n"), { rc: SUCCESS, nwritten: 12 });
  assert.deepEqual(h.logs, [["stdout", "hello"], ["stdout", "world"]]);
  assert.deepEqual(write(h, 2, "oops\r\n\n"), { rc: SUCCESS, nwritten: 7 });
  assert.deepEqual(h.logs.slice(2), [["stderr", "oops"], ["stderr", ""]]);
});

Deno.test("a line split across iovecs and calls is logged once, when its newline arrives", () => {
  const h = createHarness();
  h.put(1000, "partial");
  h.iovecs(16, [[1000, 3], [1003, 4]]);
  assert.equal(h.call("fd_write", 1, 16, 2, 8), SUCCESS);
  assert.equal(h.view().getUint32(8, true), 7);
  assert.equal(write(h, 2, "err ").rc, SUCCESS);
  assert.deepEqual(h.logs, []);
  write(h, 1, "ly done\nnext");
  write(h, 2, "line\n");
  assert.deepEqual(h.logs, [["stdout", "partially done"], ["stderr", "err line"]]);
});

Deno.test("overlapping iovecs gather the same bytes twice", () => {
  const h = createHarness();
  h.put(2000, "ab\n");
  h.iovecs(16, [[2000, 2], [2000, 2], [2001, 2]]);
  assert.equal(h.call("fd_write", 1, 16, 3, 8), SUCCESS);
  assert.equal(h.view().getUint32(8, true), 6);
  assert.deepEqual(h.logs, [["stdout", "ababb"]]);
});

Deno.test("an iovec or result pointer outside memory answers EFAULT and writes nothing", async (t) => {
  const cases: [string, (h: Harness) => number][] = [
    ["a buffer past the end", (h) => (h.iovecs(16, [[PAGE, 1]]), h.call("fd_write", 1, 16, 1, 8))],
    ["a buffer one byte too long", (h) => (h.iovecs(16, [[PAGE - 4, 5]]), h.call("fd_write", 1, 16, 1, 8))],
    [
      "a buffer whose end wraps around 2^32",
      (h) => (h.iovecs(16, [[0xffff_fff0, 0x20]]), h.call("fd_write", 1, 16, 1, 8)),
    ],
    [
      "a huge length from a small pointer",
      (h) => (h.iovecs(16, [[16, 0xffff_ffff]]), h.call("fd_write", 1, 16, 1, 8)),
    ],
    ["the iovec array past the end", (h) => h.call("fd_write", 1, PAGE - 12, 2, 8)],
    ["the iovec array near 2^32", (h) => h.call("fd_write", 1, 0xffff_fff8, 2, 8)],
    ["nwritten past the end", (h) => (h.iovecs(16, [[1024, 3]]), h.call("fd_write", 1, 16, 1, PAGE - 2))],
    ["nwritten near 2^32", (h) => (h.iovecs(16, [[1024, 3]]), h.call("fd_write", 1, 16, 1, -1))],
  ];
  for (const [name, run] of cases) {
    await t.step(name, () => {
      const h = createHarness();
      h.put(1024, "xyz\n");
      h.put(PAGE - 8, "tail\n");
      h.view().setUint32(8, 0xdead, true);
      assert.equal(run(h), FAULT);
      assert.equal(h.view().getUint32(8, true), 0xdead);
      assert.deepEqual(h.logs, []);
      // Nothing of the refused call lingers in the line buffer.
      write(h, 1, "clean\n");
      assert.deepEqual(h.logs, [["stdout", "clean"]]);
    });
  }
});

Deno.test("more than 1024 iovecs or more than 2 GiB in total answers EINVAL", async (t) => {
  await t.step("1025 iovecs", () => {
    const h = createHarness();
    h.iovecs(16, Array.from({ length: MAX_IOVECS + 1 }, () => [1024, 1]));
    assert.equal(h.call("fd_write", 1, 16, MAX_IOVECS + 1, 8), INVAL);
  });
  await t.step("a count of 2^32 - 1", () => {
    assert.equal(createHarness().call("fd_write", 1, 16, -1, 8), INVAL);
  });
  await t.step("1024 iovecs of 2.5 MiB each", () => {
    const h = createHarness();
    assert.equal(h.call("grow", 39), 1);
    h.iovecs(16, Array.from({ length: MAX_IOVECS }, () => [0, 40 * PAGE]));
    h.view().setUint32(8, 0xdead, true);
    assert.equal(h.call("fd_write", 1, 16, MAX_IOVECS, 8), INVAL);
    assert.equal(h.view().getUint32(8, true), 0xdead);
    assert.deepEqual(h.logs, []);
  });
  await t.step("exactly 1024 iovecs are fine", () => {
    const h = createHarness();
    h.put(20_000, "x\n"); // after the 8 KiB iovec array
    h.iovecs(16, [...Array.from({ length: MAX_IOVECS - 1 }, (): [number, number] => [20_000, 1]), [
      20_001,
      1,
    ]]);
    assert.equal(h.call("fd_write", 1, 16, MAX_IOVECS, 8), SUCCESS);
    assert.deepEqual(h.logs, [["stdout", "x".repeat(MAX_IOVECS - 1)]]);
  });
});

Deno.test("a line longer than 4 KiB is logged in 4 KiB pieces, cut between UTF-8 characters", async (t) => {
  await t.step("a piece never ends inside a character", () => {
    const h = createHarness();
    write(h, 1, `${"a".repeat(MAX_LINE_BYTES - 1)}éb\n`);
    assert.deepEqual(h.logs, [["stdout", "a".repeat(MAX_LINE_BYTES - 1)], ["stdout", "éb"]]);
  });
  await t.step("a line of exactly 4 KiB stays whole", () => {
    const h = createHarness();
    write(h, 1, `${"x".repeat(MAX_LINE_BYTES)}\n`);
    assert.deepEqual(h.logs, [["stdout", "x".repeat(MAX_LINE_BYTES)]]);
  });
  await t.step("10000 bytes without a newline make two pieces and leave the rest pending", () => {
    const h = createHarness();
    write(h, 1, "z".repeat(10_000));
    assert.deepEqual(h.logs.map(([, text]) => text.length), [MAX_LINE_BYTES, MAX_LINE_BYTES]);
    write(h, 1, "\n");
    assert.equal(h.logs[2]![1], "z".repeat(10_000 - 2 * MAX_LINE_BYTES));
  });
  await t.step("invalid UTF-8 is replaced, not refused", () => {
    const h = createHarness();
    h.bytes().set([0x61, 0xff, 0x62, 0x0a], 1024);
    h.iovecs(16, [[1024, 4]]);
    assert.equal(h.call("fd_write", 1, 16, 1, 8), SUCCESS);
    assert.deepEqual(h.logs, [["stdout", "a\ufffdb"]]);
  });
});

Deno.test("writes to any fd but stdout and stderr answer EBADF", () => {
  const h = createHarness();
  for (const fd of [0, 3, 100, -1]) assert.equal(write(h, fd, "no\n").rc, BADF, `fd ${fd}`);
  assert.deepEqual(h.logs, []);
});

Deno.test("closing a stream flushes its partial line and later calls on it answer EBADF", () => {
  const h = createHarness();
  write(h, 1, "tail");
  assert.equal(h.call("fd_close", 1), SUCCESS);
  assert.deepEqual(h.logs, [["stdout", "tail"]]);
  assert.equal(write(h, 1, "more\n").rc, BADF);
  assert.equal(h.call("fd_close", 1), BADF);
  assert.equal(h.call("fd_fdstat_get", 1, 64), BADF);
  assert.equal(h.call("fd_close", 7), BADF);
  assert.equal(write(h, 2, "stderr still open\n").rc, SUCCESS);
});

Deno.test("memory that grows between calls is seen by the next call", () => {
  const h = createHarness();
  assert.equal(h.call("grow", 1), 1);
  const len = h.put(PAGE + 100, "after grow\n");
  h.iovecs(PAGE + 8, [[PAGE + 100, len]]);
  assert.equal(h.call("fd_write", 1, PAGE + 8, 1, PAGE), SUCCESS);
  assert.equal(h.view().getUint32(PAGE, true), len);
  assert.deepEqual(h.logs, [["stdout", "after grow"]]);
});

Deno.test("stdin is at end of file and the standard streams are character devices that cannot seek", () => {
  const h = createHarness();
  h.iovecs(16, [[1024, 100]]);
  h.view().setUint32(8, 0xffff, true);
  assert.equal(h.call("fd_read", 0, 16, 1, 8), SUCCESS);
  assert.equal(h.view().getUint32(8, true), 0);
  assert.equal(h.call("fd_read", 0, 16, 1, PAGE), FAULT);
  assert.equal(h.call("fd_read", 0, PAGE, 1, 8), FAULT);
  assert.equal(h.call("fd_read", 1, 16, 1, 8), BADF);
  assert.equal(h.call("fd_read", 3, 16, 1, 8), BADF);

  for (const fd of [0, 1, 2]) {
    h.bytes().fill(0xee, 64, 64 + 24);
    assert.equal(h.call("fd_fdstat_get", fd, 64), SUCCESS);
    assert.equal(h.view().getUint8(64), 2, "character device");
    assert.equal(h.view().getUint16(66, true), 0, "no flags");
    assert.equal(h.view().getBigUint64(72, true), fd === 0 ? 0n : 1n << 6n, "rights");
    assert.equal(h.view().getBigUint64(80, true), 0n, "inherited rights");
    assert.equal(h.call("fd_seek", fd, 0n, 0, 8), SPIPE);
  }
  assert.equal(h.call("fd_fdstat_get", 1, PAGE - 23), FAULT);
  assert.equal(h.call("fd_fdstat_get", 3, 64), 0, "the preopened directory");
  assert.equal(h.view().getUint8(64), 3, "is a directory");
  assert.equal(h.view().getBigUint64(72, true), 1n << 13n, "whose only right is path_open");
  assert.equal(h.call("fd_fdstat_get", 4, 64), BADF);
  assert.equal(h.call("fd_seek", 3, 0n, 0, 8), BADF);
  // The one preopen: "/" on fd 3, a directory named by one byte; no fd after it.
  assert.equal(h.call("fd_prestat_get", 3, 64), 0);
  assert.equal(h.view().getUint8(64), 0, "a directory");
  assert.equal(h.view().getUint32(68, true), 1, "its name is one byte long");
  assert.equal(h.call("fd_prestat_dir_name", 3, 96, 1), 0);
  assert.equal(h.view().getUint8(96), "/".charCodeAt(0));
  assert.equal(h.call("fd_prestat_dir_name", 3, 96, 0), INVAL);
  assert.equal(h.call("fd_prestat_dir_name", 3, PAGE, 1), FAULT);
  assert.equal(h.call("fd_prestat_get", 4, 64), BADF);
  assert.equal(h.call("fd_prestat_dir_name", 4, 96, 1), BADF);
  assert.deepEqual(h.denials, []);
});

Deno.test("clock_time_get reads the context's clocks in nanoseconds", () => {
  const h = createHarness();
  const at = (id: number) => {
    assert.equal(h.call("clock_time_get", id, 1000n, 8), SUCCESS);
    return h.view().getBigUint64(8, true);
  };
  assert.equal(at(0), h.clocks.realtime);
  assert.equal(at(1), 5_000n);
  h.clocks.monotonic = 9_000n;
  assert.equal(at(1), 9_000n);
  assert.equal(at(2), 9_000n, "process CPU time reads the monotonic clock");
  assert.equal(at(3), 9_000n, "thread CPU time reads the monotonic clock");
  assert.equal(h.call("clock_time_get", 4, 0n, 8), INVAL);
  assert.equal(h.call("clock_time_get", 1, 0n, PAGE - 7), FAULT);
  assert.equal(h.call("clock_time_get", 1, 0n, -4), FAULT);
  for (const id of [0, 1, 2, 3]) {
    assert.equal(h.call("clock_res_get", id, 8), SUCCESS);
    assert.ok(h.view().getBigUint64(8, true) > 0n);
  }
  assert.equal(h.call("clock_res_get", 9, 8), INVAL);
  assert.equal(h.call("clock_res_get", 0, PAGE), FAULT);
});

Deno.test("random_get fills exactly the requested bytes with fresh randomness", () => {
  const h = createHarness();
  assert.equal(h.call("grow", 2), 1);
  const start = 16, len = 100_000; // more than one 64 KiB getRandomValues call
  assert.equal(h.call("random_get", start, len), SUCCESS);
  const first = h.bytes().slice(start, start + len);
  assert.equal(h.bytes()[start - 1], 0);
  assert.equal(h.bytes()[start + len], 0);
  assert.ok(first.subarray(len - 1000).some((b) => b !== 0), "the last chunk is filled too");
  assert.equal(h.call("random_get", start, len), SUCCESS);
  assert.notDeepEqual(h.bytes().slice(start, start + len), first);
  assert.equal(h.call("random_get", 3 * PAGE - 10, 11), FAULT);
  assert.equal(h.call("random_get", 0xffff_fff0, 0x20), FAULT);
  assert.equal(h.call("random_get", 0, 0), SUCCESS);
});

Deno.test("argv and the environment are empty and sched_yield succeeds", () => {
  const h = createHarness();
  for (const name of ["args_sizes_get", "environ_sizes_get"]) {
    h.view().setUint32(8, 7, true);
    h.view().setUint32(12, 7, true);
    assert.equal(h.call(name, 8, 12), SUCCESS);
    assert.deepEqual([h.view().getUint32(8, true), h.view().getUint32(12, true)], [0, 0]);
    assert.equal(h.call(name, 8, PAGE - 2), FAULT);
    assert.equal(h.call(name, -1, 12), FAULT);
  }
  assert.equal(h.call("args_get", 8, 12), SUCCESS);
  assert.equal(h.call("environ_get", 8, 12), SUCCESS);
  assert.equal(h.call("sched_yield"), SUCCESS);
});

Deno.test("proc_exit throws WasiExit carrying the module's exit code", () => {
  const h = createHarness();
  for (const [code, expected] of [[3, 3], [0, 0], [-1, 0xffff_ffff]]) {
    assert.throws(() => h.call("proc_exit", code!), (err: unknown) => {
      assert.ok(err instanceof WasiExit);
      assert.equal(err.code, "wasi_exit");
      assert.equal(err.exitCode, expected);
      return true;
    });
  }
});

Deno.test("every filesystem and socket function answers ENOTCAPABLE and is recorded as denied", () => {
  const granted = Object.keys(WASI_FUNCTIONS).filter(isWasiFunctionGranted).sort();
  assert.deepEqual(granted, [
    "args_get",
    "args_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "environ_get",
    "environ_sizes_get",
    "fd_close",
    "fd_fdstat_get",
    "fd_prestat_dir_name",
    "fd_prestat_get",
    "fd_read",
    "fd_seek",
    "fd_write",
    "proc_exit",
    "random_get",
    "sched_yield",
  ]);
  const refused = Object.keys(WASI_FUNCTIONS).filter((name) => !isWasiFunctionGranted(name));
  assert.equal(refused.length, 30);
  for (const name of refused) {
    const h = createHarness();
    const args = WASI_FUNCTIONS[name]!.params.map((t) => (t === "i64" ? 0n : 0));
    assert.equal(h.call(name, ...args), NOTCAPABLE, name);
    assert.equal(h.denials.length, 1, name);
    assert.equal(h.denials[0]![0], name);
  }
});

Deno.test("a refused path call names the path it tried, read with bounds checks", async (t) => {
  await t.step("path_open", () => {
    const h = createHarness();
    const len = h.put(100, "/etc/passwd");
    assert.equal(h.call("path_open", 3, 0, 100, len, 0, 2n, 0n, 0, 200), NOTCAPABLE);
    assert.deepEqual(h.denials, [["path_open", 'fd 3 ("/"), path "/etc/passwd"']]);
  });
  await t.step("a path outside memory is described, not read", () => {
    const h = createHarness();
    assert.equal(h.call("path_open", 3, 0, 0xffff_fff0, 0x20, 0, 0n, 0n, 0, 200), NOTCAPABLE);
    assert.equal(h.call("path_unlink_file", 4, PAGE - 1, 2), NOTCAPABLE);
    assert.match(h.denials[0]![1], /^fd 3 \("\/"\), path out of bounds/);
    assert.match(h.denials[1]![1], /^fd 4, path out of bounds/);
  });
  await t.step("a long path is cut", () => {
    const h = createHarness();
    const len = h.put(100, `/${"d".repeat(5000)}`);
    assert.equal(h.call("path_create_directory", 3, 100, len), NOTCAPABLE);
    const detail = h.denials[0]![1];
    assert.ok(detail.length < 300, `detail is ${detail.length} characters`);
    assert.ok(detail.endsWith("…"));
  });
  await t.step("calls with two paths name both", () => {
    const h = createHarness();
    const a = h.put(100, "old"), b = h.put(200, "new");
    h.call("path_rename", 3, 100, a, 4, 200, b);
    h.call("path_symlink", 100, a, 5, 200, b);
    h.call("path_link", 3, 0, 100, a, 4, 200, b);
    assert.deepEqual(h.denials.map(([, detail]) => detail), [
      'fd 3 ("/"), path "old", new path "new"',
      'target "old", fd 5, path "new"',
      'fd 3 ("/"), path "old", new path "new"',
    ]);
  });
  await t.step("control characters in a path are escaped", () => {
    const h = createHarness();
    const len = h.put(100, "a\nb");
    h.call("path_open", 3, 0, 100, len, 0, 0n, 0n, 0, 200);
    assert.equal(h.denials[0]![1], 'fd 3 ("/"), path "a\\nb"');
  });
});

Deno.test("WASI_FUNCTIONS lists every function of wasi-libc's import list", {
  ignore: !existsSync("/usr/lib/wasm32-wasi/libc.imports"),
}, async () => {
  const prefix = "__imported_wasi_snapshot_preview1_";
  const names = (await Deno.readTextFile("/usr/lib/wasm32-wasi/libc.imports")).split("\n")
    .filter((line) => line.startsWith(prefix)).map((line) => line.slice(prefix.length));
  assert.ok(names.length >= 45);
  for (const name of names) assert.ok(name in WASI_FUNCTIONS, name);
  assert.deepEqual(WASI_FUNCTIONS.fd_write, { params: ["i32", "i32", "i32", "i32"], results: ["i32"] });
  assert.deepEqual(WASI_FUNCTIONS.proc_exit, { params: ["i32"], results: [] });
  assert.deepEqual(WASI_FUNCTIONS.path_open, {
    params: ["i32", "i32", "i32", "i32", "i32", "i64", "i64", "i32", "i32"],
    results: ["i32"],
  });
});

function existsSync(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
