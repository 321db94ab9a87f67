/**
 * Shadow validation on an in-process gateway (`docs/shadow.md`): a candidate identical to the live module
 * matches every invocation; one that differs in one output diverges at every invocation with the largest
 * difference named for that output; one that writes another pin level and other channel records diverges
 * without any of it reaching the GPIO bank or the channel's reader; a trapping candidate stops its shadow and
 * leaves the live module running.
 */
import assert from "node:assert/strict";
import { ModuleStateError } from "../../runtime/errors.ts";
import { ShadowActiveError, ShadowNotFoundError } from "../../runtime/shadow/mod.ts";
import { RecordingActiveError } from "../../runtime/record/mod.ts";
import { waitFor } from "../_helpers.ts";
import { shadowGateway, writerWasm } from "./_fixtures.ts";

const INVOCATIONS = 100;
const TIMEOUT_MS = 30_000;

Deno.test("a shadow candidate is compared with the live module and none of its side effects are carried out", async (t) => {
  const { rt, dir } = await shadowGateway();
  try {
    await waitFor("w running", () => rt.getModule("w")?.state === "running");

    await t.step("an identical candidate matches every invocation", async () => {
      const attached = await rt.shadows.attach("w", { wasm: writerWasm() });
      assert.ok(["starting", "running"].includes(attached.state));
      await assert.rejects(rt.shadows.attach("w", { wasm: writerWasm() }), ShadowActiveError);
      const s = await waitFor(
        `${INVOCATIONS} invocations`,
        () => rt.shadows.status("w")!.invocations >= INVOCATIONS && rt.shadows.status("w")!,
        TIMEOUT_MS,
      );
      assert.equal(s.state, "running");
      assert.equal(s.diverged, 0);
      assert.equal(s.matched, s.invocations);
      assert.equal(s.firstDivergence, null);
      assert.equal(s.candidateSha256, s.liveSha256);
      assert.equal(s.layoutDifference, null);
      assert.deepEqual([...s.largestDifference].sort(), [["k", 0], ["rc", 0], ["t", 0]]);
      // channel_write, gpio_write and three outputs per call, none carried out.
      assert.ok(s.suppressedEffects >= 5 * s.invocations, `${s.suppressedEffects}`);
      assert.ok(s.candidate.p50Us !== null && s.candidate.meanUs !== null);
      const dropped = rt.shadows.drop("w");
      assert.equal(dropped.state, "stopped");
      assert.equal(dropped.reason, "dropped");
      assert.equal(rt.shadows.status("w"), null);
      assert.throws(() => rt.shadows.drop("w"), ShadowNotFoundError);
    });

    await t.step(
      "a live recording started beside a shadow takes the recorder: the shadow stops",
      async () => {
        await rt.shadows.attach("w", { wasm: writerWasm() });
        await waitFor("compared invocations", () => rt.shadows.status("w")!.invocations > 10, TIMEOUT_MS);
        const recording = await rt.recordings.start("w", { invocations: 20 });
        assert.equal(recording.state, "recording");
        await waitFor("the recording to end", () => rt.recordings.status("w")?.state === "done", TIMEOUT_MS);
        assert.equal(rt.recordings.status("w")!.stop, "invocations");
        assert.equal(rt.recordings.status("w")!.error, null);
        const s = rt.shadows.status("w")!;
        assert.equal(s.state, "stopped");
        assert.equal(s.reason, "recording_started");
        assert.equal(s.diverged, 0);
        // And a shadow is refused while a recording is under way.
        await rt.recordings.start("w", { invocations: 100_000 });
        await assert.rejects(rt.shadows.attach("w", { wasm: writerWasm() }), RecordingActiveError);
        await rt.recordings.closeAll();
        rt.shadows.drop("w");
      },
    );

    await t.step(
      "a candidate that differs in one output diverges there, with its largest difference",
      async () => {
        await rt.shadows.attach("w", { wasm: writerWasm({ k: 1.5 }) });
        const s = await waitFor(
          `${INVOCATIONS} invocations`,
          () => rt.shadows.status("w")!.invocations >= INVOCATIONS && rt.shadows.status("w")!,
          TIMEOUT_MS,
        );
        assert.equal(s.matched, 0);
        assert.equal(s.diverged, s.invocations);
        assert.notEqual(s.candidateSha256, s.liveSha256);
        assert.equal(s.layoutDifference, null, "a change of code only keeps the layout");
        assert.equal(s.largestDifference.get("k"), 0.5);
        assert.equal(s.largestDifference.get("rc"), 0);
        assert.equal(s.largestDifference.get("t"), 0, "the candidate reads the live module's clock");
        assert.deepEqual(
          { ...s.firstDivergence, entry: s.firstDivergence?.entry },
          {
            invocation: 1,
            entry: "kiln_on_tick",
            call: "kiln.output",
            what: "kiln.output argument 1",
            live: "1",
            candidate: "1.5",
          },
        );
        rt.shadows.drop("w");
      },
    );

    await t.step(
      "a candidate's GPIO writes and channel records never reach the plant or the reader",
      async () => {
        const before = rt.getModule("r")!.outputs.count ?? 0;
        await rt.shadows.attach("w", { wasm: writerWasm({ pinLevel: 1, recordOffset: 1000 }) });
        const s = await waitFor(
          `${INVOCATIONS} invocations`,
          () => rt.shadows.status("w")!.invocations >= INVOCATIONS && rt.shadows.status("w")!,
          TIMEOUT_MS,
        );
        assert.equal(s.diverged, s.invocations);
        assert.equal(s.firstDivergence?.call, "kiln.channel_write");
        assert.equal(rt.plant.listGpio()[8]!.value, 0, "the candidate's pin level did not reach the bank");
        const r = await waitFor(
          "the reader's next records",
          () => (rt.getModule("r")!.outputs.count ?? 0) > before + INVOCATIONS && rt.getModule("r")!,
          TIMEOUT_MS,
        );
        assert.equal(r.outputs.gaps, 0, "no record of the candidate came between the live module's");
        assert.ok((r.outputs.last ?? 0) < 1000, `last record ${r.outputs.last}`);
        rt.shadows.drop("w");
      },
    );

    await t.step("within a tolerance, a float difference counts as matched", async () => {
      await rt.shadows.attach("w", { wasm: writerWasm({ k: 1.5 }), tolerance: 0.5 });
      const s = await waitFor(
        `${INVOCATIONS} invocations`,
        () => rt.shadows.status("w")!.invocations >= INVOCATIONS && rt.shadows.status("w")!,
        TIMEOUT_MS,
      );
      assert.equal(s.diverged, 0);
      assert.equal(s.matched, s.invocations);
      assert.equal(s.largestDifference.get("k"), 0.5, "the difference is still reported");
      rt.shadows.drop("w");
      await assert.rejects(rt.shadows.attach("w", { wasm: writerWasm(), tolerance: -1 }), RangeError);
    });

    await t.step(
      "a candidate that loops forever is interrupted at its budget and the live module runs on",
      async () => {
        await rt.shadows.attach("w", { wasm: writerWasm({ loop: true }) });
        const s = await waitFor("the shadow to stop", () => {
          const s = rt.shadows.status("w")!;
          return s.state === "stopped" && s;
        }, TIMEOUT_MS);
        assert.equal(s.reason, "candidate_trapped: budget_exceeded");
        const invocations = rt.getModule("w")!.invocations;
        await waitFor("w to run on", () => rt.getModule("w")!.invocations > invocations + 10, TIMEOUT_MS);
        assert.equal(rt.getModule("w")!.errors, 0);
        rt.shadows.drop("w");
      },
    );

    await t.step("a trapping candidate stops its shadow and the live module runs on", async () => {
      await rt.shadows.attach("w", { wasm: writerWasm({ trap: true }) });
      const s = await waitFor("the shadow to stop", () => {
        const s = rt.shadows.status("w")!;
        return s.state === "stopped" && s;
      }, TIMEOUT_MS);
      assert.equal(s.reason, "candidate_trapped: unreachable");
      const invocations = rt.getModule("w")!.invocations;
      await waitFor("w to run on", () => rt.getModule("w")!.invocations > invocations + 10, TIMEOUT_MS);
      assert.equal(rt.getModule("w")!.state, "running");
      assert.equal(rt.getModule("w")!.errors, 0);
      // A stopped shadow is replaced by the next attach.
      await rt.shadows.attach("w", { wasm: writerWasm() });
      rt.shadows.drop("w");
    });

    await t.step("a module that is not running cannot be shadowed", async () => {
      await rt.stopModule("w");
      await assert.rejects(rt.shadows.attach("w", { wasm: writerWasm() }), ModuleStateError);
    });
  } finally {
    await rt[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});
