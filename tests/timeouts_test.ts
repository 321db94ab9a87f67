/**
 * The helpers that keep a test's child processes from hanging the suite (`_timeouts.ts`, and the output
 * reader of `_process.ts`), against real processes: a shell that ignores SIGTERM, and a grandchild that
 * outlives its parent and keeps its pipes open.
 *
 * @module
 */
import assert from "node:assert/strict";
import { killAfterGrace, stopChild, TOOL_TIMEOUT_MS } from "./_timeouts.ts";
import { readOutput } from "./_process.ts";
import { waitFor } from "./_helpers.ts";

/** A process that ignores SIGTERM (the disposition survives `exec`) and would otherwise sleep a minute. */
function deaf(signal: AbortSignal): Deno.ChildProcess {
  return new Deno.Command("bash", {
    args: ["-c", "trap '' TERM; echo ready; exec sleep 60"],
    stdout: "piped",
    stderr: "null",
    signal,
  }).spawn();
}

/** Resolves once `child` printed a first line (so its trap is set). */
async function firstLine(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text;
}

Deno.test("stopChild ends a process that ignores SIGTERM with SIGKILL after the grace period", async () => {
  const child = deaf(AbortSignal.timeout(TOOL_TIMEOUT_MS));
  try {
    assert.equal(await firstLine(child), "ready\n");
    const status = await stopChild(child, 200);
    assert.equal(status.signal, "SIGKILL");
  } finally {
    await child.stdout.cancel().catch(() => {});
  }
});

Deno.test("a process past its signal's bound that ignores SIGTERM gets SIGKILL from killAfterGrace", async () => {
  const bound = new AbortController();
  const child = deaf(bound.signal);
  killAfterGrace(child, bound.signal, 200);
  try {
    assert.equal(await firstLine(child), "ready\n");
    bound.abort(); // as AbortSignal.timeout does at its bound: Deno sends SIGTERM, which is ignored
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL");
  } finally {
    await child.stdout.cancel().catch(() => {});
  }
});

Deno.test("stopChild of a process that already exited returns its status", async () => {
  const child = new Deno.Command("true", { signal: AbortSignal.timeout(TOOL_TIMEOUT_MS) }).spawn();
  await child.status;
  assert.deepEqual({ ...await stopChild(child) }, { success: true, code: 0, signal: null });
});

Deno.test("reading a child's output stops when a grandchild keeps its pipes open after it exited", async () => {
  // The shell starts a sleeping grandchild that inherits its stdout and stderr, prints its pid and exits.
  const child = new Deno.Command("bash", {
    args: ["-c", "sleep 60 & echo $!; exit 0"],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
  }).spawn();
  const output = readOutput(child);
  assert.equal((await child.status).code, 0);
  let grandchild = 0;
  try {
    await waitFor("the grandchild's pid", () => output.stdout.includes("\n"));
    grandchild = Number(output.stdout.trim());
    assert.ok(grandchild > 0, `the grandchild's pid: ${output.stdout}`);
    await output.closed(200);
    // It gave up on the pipes rather than waiting for them to close: the grandchild still runs.
    Deno.kill(grandchild, "SIGKILL");
    grandchild = 0;
  } finally {
    if (grandchild > 0) {
      try {
        Deno.kill(grandchild, "SIGKILL");
      } catch { /* it is gone */ }
    }
  }
});
