/**
 * A shadow candidate started from its own `kiln_init` (`start: "init"`, `docs/shadow.md`): a build with
 * another memory layout diverges when resumed from the live module's memory image but matches every
 * invocation from its own start; a stateful candidate warms up, its warm-up counted apart; a candidate whose
 * `kiln_init` traps or overruns stops its shadow; and the effects of the candidate's `kiln_init` never reach
 * the GPIO bank or the channel's reader.
 */
import assert from "node:assert/strict";
import type { ShadowStatus } from "../../runtime/shadow/mod.ts";
import type { Runtime } from "../../runtime/mod.ts";
import { waitFor } from "../_helpers.ts";
import { gaugeWasm, shadowGateway, writerWasm } from "./_fixtures.ts";

const INVOCATIONS = 60;
const TIMEOUT_MS = 30_000;

/** The shadow of `name` once it has counted `n` invocations, or once it stopped. */
function settled(rt: Runtime, name: string, n = INVOCATIONS): Promise<ShadowStatus> {
  return waitFor(`${n} invocations of ${name}'s shadow, or its stop`, () => {
    const s = rt.shadows.status(name)!;
    return (s.invocations >= n || s.state === "stopped") && s;
  }, TIMEOUT_MS);
}

Deno.test("a shadow candidate started from its own kiln_init is compared without its live layout", async (t) => {
  const { rt, dir } = await shadowGateway({ gauges: true });
  try {
    await waitFor("g and s running", () => ["g", "s"].every((m) => rt.getModule(m)?.state === "running"));
    await waitFor("s warmed up", () => rt.getModule("s")!.outputs.level === 10, TIMEOUT_MS);

    await t.step("a build with another memory layout diverges from the live image", async () => {
      const attached = await rt.shadows.attach("g", { wasm: gaugeWasm({ moved: true }) });
      assert.equal(attached.start, "image", "image is the default");
      assert.match(attached.layoutDifference ?? "", /mutable globals/, "the binaries say the layouts differ");
      const s = await settled(rt, "g");
      // Resumed from the live memory, it reads its state where the live build never wrote it.
      assert.ok(s.state === "stopped" || s.diverged > 0, JSON.stringify(s));
      if (s.state === "running") assert.equal(s.firstDivergence?.call, "kiln.output");
      rt.shadows.drop("g");
    });

    await t.step("the same build started from its own kiln_init matches every invocation", async () => {
      const attached = await rt.shadows.attach("g", { wasm: gaugeWasm({ moved: true }), start: "init" });
      assert.equal(attached.start, "init");
      assert.equal(attached.warmupInvocations, 0);
      const s = await settled(rt, "g");
      assert.equal(s.state, "running", `${s.reason}`);
      assert.equal(s.diverged, 0);
      assert.equal(s.matched, s.invocations);
      assert.equal(s.warmup, 0);
      assert.equal(s.firstDivergence, null);
      assert.notEqual(s.candidateSha256, s.liveSha256);
      // The live module's param reached the candidate's kiln_init: k is 2.5 on both sides.
      assert.deepEqual([...s.largestDifference], [["k", 0]]);
      assert.equal(rt.getModule("g")!.outputs.k, 2.5);
      rt.shadows.drop("g");
    });

    await t.step("a cold stateful candidate diverges until it has warmed up", async () => {
      await rt.shadows.attach("s", { wasm: gaugeWasm({ warm: 10, moved: true }), start: "init" });
      const s = await settled(rt, "s");
      // Its level counts 1, 2, ... 9 against the live module's 10, then matches.
      assert.equal(s.diverged, 9);
      assert.equal(s.matched, s.invocations - 9);
      assert.deepEqual(s.firstDivergence, {
        invocation: 1,
        entry: "kiln_on_tick",
        call: "kiln.output",
        what: "kiln.output argument 1",
        live: "10",
        candidate: "1",
      });
      assert.equal(s.largestDifference.get("level"), 9);
      rt.shadows.drop("s");
    });

    await t.step("a warm-up is counted apart, and the invocations after it match", async () => {
      const attached = await rt.shadows.attach("s", {
        wasm: gaugeWasm({ warm: 10, moved: true }),
        start: "init",
        warmupInvocations: 10,
      });
      assert.equal(attached.warmupInvocations, 10);
      const s = await settled(rt, "s");
      assert.equal(s.state, "running", `${s.reason}`);
      assert.equal(s.warmup, 10);
      assert.equal(s.diverged, 0);
      assert.equal(s.matched, s.invocations);
      assert.equal(s.firstDivergence, null);
      assert.equal(s.largestDifference.get("level"), 0, "the warm-up's differences are not kept");
      assert.equal(s.candidate.calls, s.invocations + s.warmup);
      rt.shadows.drop("s");
    });

    await t.step("a candidate whose kiln_init traps or overruns stops its shadow", async () => {
      for (
        const [variant, fault] of [[{ initTrap: true }, "unreachable"], [
          { initLoop: true },
          "budget_exceeded",
        ]]
      ) {
        await rt.shadows.attach("g", { wasm: gaugeWasm(variant as object), start: "init" });
        const s = await waitFor("the shadow to stop", () => {
          const s = rt.shadows.status("g")!;
          return s.state === "stopped" && s;
        }, TIMEOUT_MS);
        assert.equal(s.reason, `candidate_trapped: ${fault}`);
        assert.equal(s.invocations, 0);
        const invocations = rt.getModule("g")!.invocations;
        await waitFor("g to run on", () => rt.getModule("g")!.invocations > invocations + 5, TIMEOUT_MS);
        assert.equal(rt.getModule("g")!.state, "running");
        assert.equal(rt.getModule("g")!.errors, 0);
        rt.shadows.drop("g");
      }
    });

    await t.step(
      "the effects of a candidate's kiln_init never reach the GPIO bank or a channel",
      async () => {
        const before = rt.getModule("r")!.outputs.count ?? 0;
        const pin = rt.plant.listGpio()[8]!;
        await rt.shadows.attach("w", { wasm: writerWasm({ initEffects: true }), start: "init" });
        const s = await settled(rt, "w");
        assert.equal(s.state, "running", `${s.reason}`);
        // Its init's pin write, channel write and output were swallowed, and counted as suppressed.
        assert.ok(s.suppressedEffects >= 3 + 5 * s.invocations, `${s.suppressedEffects}`);
        // The live module keeps pin 8 low: a high level from the candidate's init would have changed it twice.
        assert.equal(rt.plant.listGpio()[8]!.value, 0, "the candidate's init did not drive pin 8");
        assert.equal(rt.plant.listGpio()[8]!.changedAt, pin.changedAt, "pin 8 has not changed level");
        const r = await waitFor(
          "the reader's next records",
          () => (rt.getModule("r")!.outputs.count ?? 0) > before + INVOCATIONS && rt.getModule("r")!,
          TIMEOUT_MS,
        );
        // Record 5000 between two of the live module's would be two gaps.
        assert.equal(r.outputs.gaps, 0, "no record of the candidate's init came between the live module's");
        assert.equal(
          rt.getModule("w")!.outputs.init,
          undefined,
          "the init's output is not the live module's",
        );
        rt.shadows.drop("w");
      },
    );

    await t.step("a start mode or a warm-up out of range is refused", async () => {
      await assert.rejects(
        rt.shadows.attach("g", { wasm: gaugeWasm(), start: "snapshot" as "init" }),
        RangeError,
      );
      for (const warmupInvocations of [-1, 1.5, Number.NaN]) {
        await assert.rejects(
          rt.shadows.attach("g", { wasm: gaugeWasm(), start: "init", warmupInvocations }),
          RangeError,
        );
      }
      assert.equal(rt.shadows.status("g"), null, "nothing is attached");
    });
  } finally {
    await rt[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});
