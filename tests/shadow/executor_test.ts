/**
 * Where a shadow candidate runs (`docs/shadow.md`): in the executor that hosts the live module, never on the
 * gateway's main thread. The counters the status shows come from that executor's reports (the status names
 * it), and the main thread's side of shadows does not load the code that instantiates a module.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "../_helpers.ts";
import { shadowGateway, writerWasm } from "./_fixtures.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TIMEOUT_MS = 30_000;

Deno.test("a shadow candidate's counters come from the live module's executor's reports", async () => {
  const { rt, dir } = await shadowGateway();
  try {
    await waitFor("w running", () => rt.getModule("w")?.state === "running");
    const attached = await rt.shadows.attach("w", { wasm: writerWasm({ k: 2 }) });
    assert.equal(attached.executor, null, "no report has come yet");
    const s = await waitFor(
      "50 compared invocations",
      () => rt.shadows.status("w")!.invocations >= 50 && rt.shadows.status("w")!,
      TIMEOUT_MS,
    );
    assert.equal(s.state, "running");
    assert.equal(s.executor, rt.getModule("w")!.executor);
    assert.equal(s.diverged, s.invocations);
    assert.equal(s.largestDifference.get("k"), 1);
    assert.equal(s.candidate.calls, s.invocations);
    assert.ok(s.candidate.meanUs !== null && s.live.meanUs !== null);
    rt.shadows.drop("w");
  } finally {
    await rt[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the main thread's side of shadows never loads the code that instantiates a module", async () => {
  const seen = new Set<string>();
  const queue = ["runtime/shadow/mod.ts"];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!file.startsWith("runtime/shadow/")) continue; // only the shadow folder's own imports are walked
    const text = await Deno.readTextFile(join(ROOT, file));
    const statement = /(?:^|\n)\s*(?:import|export)\s+(type\s+)?[^;]*?\s*from\s*["'](\.[^"']+)["']/g;
    for (const m of text.matchAll(statement)) {
      if (m[1]) continue; // a type-only import loads nothing
      queue.push(relative(ROOT, join(dirname(join(ROOT, file)), m[2]!)));
    }
  }
  assert.ok(seen.has("runtime/shadow/shadow.ts"));
  for (const file of ["runtime/executor/instance.ts", "runtime/executor/_shadow_tap.ts"]) {
    assert.ok(!seen.has(file), `runtime/shadow/ loads ${file}`);
  }
});
