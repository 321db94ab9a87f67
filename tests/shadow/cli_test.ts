/**
 * `kiln shadow` against a gateway's API served on loopback: attach a candidate, read its status (text and
 * `--json`), drop it; usage errors are refused.
 */
import assert from "node:assert/strict";
import { shadowCommand } from "../../cli/shadow.ts";
import { UsageError } from "../../cli/_usage.ts";
import { ApiRequestError } from "../../cli/_api_client.ts";
import { startMosquitto, tempDir } from "../hal/_mosquitto.ts";
import { waitFor } from "../_helpers.ts";
import { writerWasm } from "./_fixtures.ts";
import { startGateway } from "./_gateway.ts";

/** Runs `kiln shadow args` in process; returns what it printed. */
async function kilnShadow(args: string[]): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    assert.equal(await shadowCommand(args), 0);
  } finally {
    console.log = log;
  }
  return lines.join("\n");
}

Deno.test("kiln shadow attaches a candidate, shows how it compares and drops it", async () => {
  await using dir = await tempDir();
  await using broker = await startMosquitto(dir.path, { lifetimeMs: 120_000 });
  await using gw = await startGateway(dir.path, broker.port);
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, gw.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  await waitFor("w running", () => gw.rt.getModule("w")?.state === "running", 30_000);
  const wasm = `${dir.path}/candidate.wasm`;
  await Deno.writeFile(wasm, writerWasm({ topic: "live", k: 4 }));
  const common = ["--url", url, "--data", dir.path];

  const attached = await kilnShadow(["w", wasm, ...common]);
  assert.match(
    attached,
    /^shadow of "w": (starting|running), candidate [0-9a-f]{12} beside [0-9a-f]{12}, start image$/m,
  );
  await waitFor("compared invocations", () => (gw.rt.shadows.status("w")?.invocations ?? 0) >= 20, 30_000);
  const text = await kilnShadow(["status", "w", ...common]);
  assert.match(text, /invocations \d+: matched 0, diverged \d+/);
  assert.match(
    text,
    /first divergence at invocation 1 \(kiln_on_tick, kiln\.output\): kiln\.output argument 1/,
  );
  assert.match(text, /largest difference: .*k 3/);
  const json = JSON.parse(await kilnShadow(["status", "w", ...common, "--json"]));
  assert.equal(json.largest_difference.k, 3);
  assert.match(await kilnShadow(["drop", "w", ...common]), /shadow of "w": stopped \(dropped\)/);
  await assert.rejects(kilnShadow(["status", "w", ...common]), ApiRequestError);
  const init = await kilnShadow(["w", wasm, ...common, "--start", "init", "--warmup", "2"]);
  assert.match(init, /, start init$/m);
  await waitFor("counted invocations", () => (gw.rt.shadows.status("w")?.invocations ?? 0) >= 5, 30_000);
  assert.match(
    await kilnShadow(["status", "w", ...common]),
    /diverged \d+ \(after a warm-up of 2 of 2 invocations, counted apart\)/,
  );
  await kilnShadow(["drop", "w", ...common]);
  await assert.rejects(shadowCommand(["w", wasm, ...common, "--start", "snapshot"]), UsageError);
  await assert.rejects(shadowCommand(["w", wasm, ...common, "--warmup", "many"]), UsageError);
  await assert.rejects(shadowCommand(["w", wasm]), UsageError);
  await assert.rejects(shadowCommand(["w", ...common]), UsageError);
});
