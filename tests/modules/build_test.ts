import assert from "node:assert/strict";
import { MODULES_DIR } from "./_paths.ts";
import { BUILD_TIMEOUT_MS } from "../_timeouts.ts";

const BUILD_SCRIPT = new URL("build.ts", MODULES_DIR).pathname;

async function runCheck(...extra: string[]): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-run", BUILD_SCRIPT, "--check", ...extra],
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(BUILD_TIMEOUT_MS), // clang-19 rebuilds every example module
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

Deno.test("rebuilding the modules with clang-19 reproduces the committed hashes", async () => {
  const { code, stderr } = await runCheck();
  assert.equal(code, 0, stderr);
});

Deno.test("a module whose hash differs is named and the check fails", async () => {
  const hashes = JSON.parse(await Deno.readTextFile(new URL("hashes.json", MODULES_DIR)));
  hashes["fft/fft.wasm"] = "0".repeat(64);
  const tampered = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(tampered, JSON.stringify(hashes));
    const { code, stderr } = await runCheck(`--hashes=${tampered}`);
    assert.equal(code, 1);
    assert.match(stderr, /"fft\/fft\.wasm"/);
    assert.doesNotMatch(stderr, /"temperature\/temperature\.wasm"/);
  } finally {
    await Deno.remove(tampered);
  }
});
