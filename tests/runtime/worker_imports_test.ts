/**
 * An executor worker loads only its own room, `runtime/executor/`, and the few shared files it needs: the
 * worker starts in a few milliseconds and holds a few MiB because it does not load the main thread's code
 * (the API, the supervisor, SQLite, the Wasm decoder and instrumenter). This walks the worker's static value
 * imports (type-only imports are erased and load nothing) and fails, naming the chain, on any other file.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Outside `runtime/executor/`, the files a worker may load, and why. */
const SHARED = new Map<string, string>([
  ["runtime/abi.ts", "the ABI's names and status codes"],
  ["runtime/capabilities.ts", "grants are parsed and checked in the worker"],
  ["runtime/errors.ts", "the runtime's error classes"],
  ["runtime/wasm/constants.ts", "the names the instrumenter gives its imports and exports"],
  ["errors.ts", "KilnError"],
  ["hal/sim/gpio.ts", "an event handler drives the simulated pins in shared memory itself"],
  ["runtime/record/tap.ts", "every instance is linked with an inactive recorder (live recording)"],
]);

/** The relative specifiers of `source`'s value imports and re-exports (not `import type`/`export type`). */
export function valueImports(source: string): string[] {
  const out: string[] = [];
  const statement = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s*["']([^"']+)["']/g;
  for (const m of source.matchAll(statement)) {
    if (m[2]) continue; // import type / export type
    out.push(m[4]!);
  }
  for (const m of source.matchAll(/(?:^|\n)\s*import\s+["']([^"']+)["']/g)) out.push(m[1]!); // side effects
  return out.filter((s) => s.startsWith("."));
}

/** Every file reached from `entry` (repository-relative), with the chain that reached it. */
async function graph(entry: string): Promise<Map<string, string[]>> {
  const seen = new Map<string, string[]>([[entry, [entry]]]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    const text = await Deno.readTextFile(join(ROOT, file));
    for (const spec of valueImports(text)) {
      const target = relative(ROOT, join(dirname(join(ROOT, file)), spec));
      if (seen.has(target)) continue;
      seen.set(target, [...seen.get(file)!, target]);
      queue.push(target);
    }
  }
  return seen;
}

function allowed(file: string): boolean {
  return file.startsWith("runtime/executor/") || SHARED.has(file);
}

Deno.test("an executor worker loads only runtime/executor/ and the shared files it needs", async () => {
  const reached = await graph("runtime/executor/worker.ts");
  const outside = [...reached].filter(([file]) => !allowed(file)).map(([, chain]) => chain.join(" -> "));
  assert.deepEqual(outside, []);
  assert.ok(reached.has("runtime/executor/instance.ts"), "the walk follows imports");
  assert.ok(reached.size > 10);
});

Deno.test("the import walk skips type-only imports and sees every other kind", () => {
  const source = `import type { A } from "./types.ts";
import { type B, c } from "./mixed.ts";
export { d } from "./reexport.ts";
export type { E } from "./type_reexport.ts";
import "./side_effect.ts";
import {
  f,
  g,
} from "../multi_line.ts";
import { h } from "npm:hono";`;
  assert.deepEqual(valueImports(source), [
    "./mixed.ts",
    "./reexport.ts",
    "../multi_line.ts",
    "./side_effect.ts",
  ]);
  assert.ok(
    !allowed("runtime/runtime.ts") && !allowed("runtime/wasm/mod.ts") && !allowed("snapshots/mod.ts"),
  );
});
