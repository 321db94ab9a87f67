/**
 * Recording and replay (issue #19): the demo's anomaly module recorded for a few hundred windows of the
 * simulated machine (fft upstream writing the real channel ring), replayed with identical output hashes, and
 * a rebuild with one constant changed diverging at the invocation that first raises its alert.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { planDeployment } from "../../runtime/mod.ts";
import {
  createReplayer,
  readTrace,
  recordInProcess,
  type Trace,
  TraceFormatError,
} from "../../runtime/record/mod.ts";
import { ROOT } from "../_process.ts";
import { gzipSync } from "node:zlib";
import { encodeFrame, TRACE_MAGIC, TRACE_VERSION } from "../../runtime/record/format.ts";
import { BUILD_TIMEOUT_MS } from "../_timeouts.ts";

/** The seed's determinism figure: 1000 runs (about 5 s here). */
const RUNS = 1000;
const WINDOWS = 300;
/** The bearing fault starts after 3 s, about 150 windows of machine 1 (25.6 kHz, fft hop 512). */
const FAULT_AT_MS = 3000;

let recorded: { bytes: Uint8Array; trace: Trace } | null = null;
async function demoRecording() {
  if (recorded) return recorded;
  const plan = planDeployment(await loadManifest(`${ROOT}examples/demo.yaml`));
  const { bytes } = await recordInProcess(plan, "anomaly", {
    invocations: WINDOWS,
    faultAtMs: FAULT_AT_MS,
  });
  recorded = { bytes, trace: readTrace(bytes) };
  return recorded;
}

/** The first invocation that raised an alert in the recording. */
function firstAlert(trace: Trace): number {
  const inv = trace.invocations.find((i) => i.calls.some((c) => c.name === "kiln.alert"));
  assert.ok(inv, "the recording holds an alert");
  return inv.seq;
}

Deno.test("a recording of the demo's anomaly module holds every window, score and the alert", async () => {
  const { bytes, trace } = await demoRecording();
  assert.equal(trace.header.module, "anomaly");
  assert.equal(trace.stop, "invocations");
  assert.equal(trace.invocations.length, WINDOWS + 1); // the start, then every window
  assert.equal(trace.invocations[0]!.entry, "init");
  assert.ok(
    trace.invocations.slice(1).every((i) => i.entry === "kiln_on_record" && i.input?.length === 1024),
  );
  const outputs = trace.invocations[5]!.calls.map((c) => [c.name, c.args[0]]);
  assert.deepEqual(outputs, [["kiln.output", "score"], ["kiln.output", "threshold"]]);
  assert.ok(firstAlert(trace) > 150, "the alert comes after the fault starts");
  assert.deepEqual(trace.header.data.map((d) => d.name), ["weights"]);
  // Compact: about the size of the windows' 1 KiB of features each (noisy data compresses little).
  assert.ok(bytes.length < WINDOWS * 1024 * 1.1, `trace of ${bytes.length} bytes`);
});

Deno.test(`replaying the anomaly trace ${RUNS} times gives identical output hashes and no divergence`, async () => {
  const { trace } = await demoRecording();
  const replayer = await createReplayer(trace);
  assert.equal(replayer.sha256, trace.header.sha256);
  const hashes = new Set<string>();
  for (let i = 0; i < RUNS; i++) {
    const run = replayer.run();
    assert.equal(run.divergence, null);
    assert.equal(run.invocations, WINDOWS + 1);
    hashes.add(run.hash);
  }
  assert.equal(hashes.size, 1);
});

Deno.test("a rebuild with one constant changed diverges at the invocation that raises the alert", async () => {
  const { trace } = await demoRecording();
  const dir = await Deno.makeTempDir({ prefix: "kiln_replay_" });
  try {
    await Deno.mkdir(join(dir, "anomaly"));
    await Deno.mkdir(join(dir, "sdk"));
    for (const f of ["ae_kernel.c", "ae_kernel.h"]) {
      await Deno.copyFile(`${ROOT}modules/anomaly/${f}`, join(dir, "anomaly", f));
    }
    for (const e of Deno.readDirSync(`${ROOT}modules/sdk`)) {
      if (e.isFile) await Deno.copyFile(`${ROOT}modules/sdk/${e.name}`, join(dir, "sdk", e.name));
    }
    const source = await Deno.readTextFile(`${ROOT}modules/anomaly/anomaly.c`);
    assert.ok(source.includes('" above threshold "'));
    await Deno.writeTextFile(
      join(dir, "anomaly", "anomaly.c"),
      source.replace('" above threshold "', '" over threshold "'),
    );
    const { CFLAGS, MODULE_BUILDS } = await import("../../modules/build.ts");
    const build = MODULE_BUILDS.find((b) => b.output === "anomaly/anomaly.wasm")!;
    const out = await new Deno.Command("clang-19", {
      args: [...(build.flags ?? CFLAGS), ...build.sources, "-o", "changed.wasm"],
      cwd: dir,
      signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));

    const replayer = await createReplayer(trace, { wasm: join(dir, "changed.wasm") });
    assert.notEqual(replayer.sha256, trace.header.sha256);
    const run = replayer.run();
    const alertAt = firstAlert(trace);
    assert.ok(run.divergence);
    assert.equal(run.divergence.invocation, alertAt);
    assert.equal(run.divergence.what, "kiln.alert argument 1");
    assert.match(run.divergence.expected, /above threshold/);
    assert.match(run.divergence.actual, /over threshold/);
    assert.equal(run.invocations, alertAt + 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a truncated, corrupt or foreign trace file is refused with trace_invalid", async () => {
  const { bytes } = await demoRecording();
  const cases: [string, Uint8Array][] = [
    ["truncated", bytes.subarray(0, bytes.length - 100)],
    ["cut after the header", bytes.subarray(0, 40)],
    [
      "a flipped byte",
      (() => {
        const b = bytes.slice();
        b[Math.floor(b.length / 2)]! ^= 0xff;
        return b;
      })(),
    ],
    ["not a trace", new TextEncoder().encode("hello, world")],
    [
      "a well-formed file with a malformed header",
      (() => {
        const body = gzipSync(
          new Uint8Array([
            ...encodeFrame({ type: "header", module: 42 }),
            ...encodeFrame({ type: "end", invocations: 0, stop: "stopped" }),
          ]),
        );
        return new Uint8Array([...TRACE_MAGIC, TRACE_VERSION, ...body]);
      })(),
    ],
    [
      "another version",
      (() => {
        const b = bytes.slice();
        b[8] = 99;
        return b;
      })(),
    ],
  ];
  for (const [what, data] of cases) {
    assert.throws(() => readTrace(data, "t.ktrace"), (err: unknown) => {
      assert.ok(err instanceof TraceFormatError, what);
      assert.equal(err.code, "trace_invalid", what);
      return true;
    });
  }
});
