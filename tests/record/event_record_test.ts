/**
 * Offline recording of event modules (issue #19): the demo's `safety` gets the trip record the `temperature`
 * module writes to their channel when the simulated probe overheats (the writer runs beside it, as in the
 * gateway), plus API events from an events file; the trace replays with identical output hashes. An events
 * file is validated line by line, and a trigger with no source offline is refused with what to give instead.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { type DeploymentPlan, planDeployment } from "../../runtime/mod.ts";
import { createReplayer, readTrace, recordInProcess, ReplayError } from "../../runtime/record/mod.ts";
import { EventsFileError, parseEventsFile } from "../../runtime/record/_event_feed.ts";
import { ROOT, runKiln } from "../_process.ts";
import { TOOL_TIMEOUT_MS } from "../_timeouts.ts";

const RUNS = 1000;
/** An operator's reset, then a body the module refuses (`KILN_EINVAL`). */
const EVENTS = [
  `# safety: reset the stop after the trip, then an event it refuses`,
  `{"at_ms": 50000, "kind": "api", "payload": "{\\"action\\":\\"reset\\"}"}`,
  `{"at_ms": 51000, "kind": "api", "payload_base64": "aGVsbG8="}`,
].join("\n");

async function demoPlan(): Promise<DeploymentPlan> {
  return planDeployment(await loadManifest(`${ROOT}examples/demo.yaml`));
}

/** The demo with `safety` triggered by `trigger` instead of the trip channel. */
async function retriggered(trigger: string): Promise<DeploymentPlan> {
  const plan = await demoPlan();
  return {
    ...plan,
    modules: plan.modules.map((m) =>
      m.name === "safety" ? { ...m, schedule: { mode: "event" as const, trigger, priority: 90 } } : m
    ),
  };
}

Deno.test("the demo's safety module recorded offline gets the temperature module's trip record and the file's events, and replays identically", async () => {
  const { bytes } = await recordInProcess(await demoPlan(), "safety", {
    simulatedMs: 60_000,
    faultAtMs: 1000,
    eventsFile: { path: "events.jsonl", text: EVENTS },
  });
  const trace = readTrace(bytes);
  assert.equal(trace.header.module, "safety");
  assert.equal(trace.stop, "duration");
  assert.deepEqual(
    trace.invocations.map((i) => [i.entry, i.args[0] ?? null, i.rc]),
    [["init", null, 0], ["kiln_on_event", 3, 0], ["kiln_on_event", 1, 0], ["kiln_on_event", 1, -5]],
  );
  // The trip: a 24-byte record (temperature, trip limit, time) from the temperature module, then the stop.
  const trip = trace.invocations[1]!;
  assert.equal(trip.input?.length, 24);
  assert.equal(new DataView(trip.input!.buffer, trip.input!.byteOffset).getFloat64(8, true), 85);
  assert.deepEqual(trip.calls.map((c) => c.name), [
    "kiln.gpio_write",
    "kiln.alert",
    "kiln.output",
    "kiln.output",
  ]);
  assert.deepEqual(trip.calls[0]!.args, [8, 1]);
  assert.deepEqual(trace.invocations[2]!.calls[0]!.args, [8, 0]); // the reset drives the pin low

  const replayer = await createReplayer(trace);
  const hashes = new Set<string>();
  for (let i = 0; i < RUNS; i++) {
    const run = replayer.run();
    assert.equal(run.divergence, null);
    assert.equal(run.invocations, 4);
    hashes.add(run.hash);
  }
  assert.equal(hashes.size, 1);
});

Deno.test("an event module recorded for a number of invocations stops at that number", async () => {
  const { bytes } = await recordInProcess(await demoPlan(), "safety", {
    invocations: 2,
    faultAtMs: 0,
    eventsFile: { path: "events.jsonl", text: EVENTS },
  });
  const trace = readTrace(bytes);
  assert.equal(trace.stop, "invocations");
  assert.equal(trace.invocations.length, 3);
});

Deno.test("an event module with no source offline is refused unless an events file gives its events", async (t) => {
  await t.step("an api trigger and no events file: ReplayError naming --events", async () => {
    await assert.rejects(
      recordInProcess(await retriggered("api"), "safety", { invocations: 5 }),
      (err: unknown) => {
        assert.ok(err instanceof ReplayError);
        assert.equal(err.code, "replay_failed");
        assert.match(err.message, /--events FILE/);
        return true;
      },
    );
  });
  await t.step("a gpio trigger fed edges from the file, ending with the file", async () => {
    const { bytes } = await recordInProcess(await retriggered("gpio:pin_3"), "safety", {
      invocations: 100,
      eventsFile: {
        path: "edges.jsonl",
        text: `{"at_ms": 10, "kind": "gpio", "value": 1}\n{"at_ms": 20, "kind": "gpio", "value": 0}\n`,
      },
    });
    const trace = readTrace(bytes);
    assert.equal(trace.stop, "duration");
    const edges = trace.invocations.slice(1);
    assert.deepEqual(edges.map((i) => [i.args[0], [...i.input!]]), [
      [2, [3, 0, 0, 0, 1, 0, 0, 0]],
      [2, [3, 0, 0, 0, 0, 0, 0, 0]],
    ]);
    const run = (await createReplayer(trace)).run();
    assert.equal(run.divergence, null);
  });
});

Deno.test("an events file is refused line by line with events_file_invalid", async (t) => {
  const bad: [string, string, number][] = [
    ["not JSON", `{"at_ms": 1, "kind": "api", "payload": "0"}\n{nope`, 2],
    ["an unknown kind", `{"at_ms": 1, "kind": "modbus", "payload": "0"}`, 1],
    ["a negative time", `{"at_ms": -1, "kind": "api", "payload": "0"}`, 1],
    ["an unknown field", `{"at_ms": 1, "kind": "api", "payload": "0", "topic": "x"}`, 1],
    ["two payloads", `{"at_ms": 1, "kind": "api", "payload": "0", "payload_base64": "MA=="}`, 1],
    ["a gpio event without a level", `{"at_ms": 1, "kind": "gpio"}`, 1],
    ["a payload over 4 KiB", `{"at_ms": 1, "kind": "mqtt", "payload": "${"x".repeat(4097)}"}`, 1],
  ];
  for (const [what, text, line] of bad) {
    await t.step(what, () => {
      assert.throws(() => parseEventsFile(text, "e.jsonl"), (err: unknown) => {
        assert.ok(err instanceof EventsFileError, what);
        assert.equal(err.code, "events_file_invalid");
        assert.equal(err.line, line);
        return true;
      });
    });
  }
  await t.step("events the module's trigger does not bring", async () => {
    for (
      const text of [
        `{"at_ms": 1, "kind": "gpio", "value": 1}`,
        `{"at_ms": 1, "kind": "mqtt", "payload": "x"}`,
      ]
    ) {
      await assert.rejects(
        recordInProcess(await demoPlan(), "safety", { invocations: 1, eventsFile: { path: "e", text } }),
        (err: unknown) => err instanceof EventsFileError && err.line === 1,
      );
    }
    // The trip channel's writer (temperature) runs offline: its records are not taken from the file too.
    await assert.rejects(
      recordInProcess(await demoPlan(), "safety", {
        invocations: 1,
        eventsFile: { path: "e", text: `{"at_ms": 1, "kind": "channel", "payload_base64": "AAAA"}` },
      }),
      (err: unknown) => err instanceof EventsFileError && /runs offline/.test(err.message),
    );
  });
});

Deno.test("kiln record --events records the demo's safety module, and kiln replay replays it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln_record_events_" });
  try {
    const events = join(dir, "events.jsonl");
    await Deno.writeTextFile(events, EVENTS);
    const out = join(dir, "safety.ktrace");
    const rec = await runKiln(
      [
        "record",
        "safety",
        "--manifest",
        "examples/demo.yaml",
        "--for",
        "60s",
        "--fault-at",
        "1s",
        "--events",
        events,
        "--out",
        out,
      ],
      { timeoutMs: TOOL_TIMEOUT_MS },
    );
    assert.equal(rec.code, 0, rec.stderr);
    assert.match(rec.stdout, /recorded 3 invocations of "safety"/);
    const rep = await runKiln(["replay", out, "--runs", "3"], { timeoutMs: TOOL_TIMEOUT_MS });
    assert.equal(rep.code, 0, rep.stderr);
    assert.match(rep.stdout, /3 runs: identical to the recording, all output hashes identical/);

    await Deno.writeTextFile(events, `{"at_ms": 1, "kind": "api"}\n`);
    const bad = await runKiln(
      [
        "record",
        "safety",
        "--manifest",
        "examples/demo.yaml",
        "--for",
        "5s",
        "--events",
        events,
        "--out",
        out,
      ],
      { timeoutMs: TOOL_TIMEOUT_MS },
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /events\.jsonl" line 1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
