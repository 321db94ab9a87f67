/**
 * The startup trace `bench/cold_start.ts` reads (`runtime/_startup_marks.ts`): printed only when
 * `KILN_STARTUP_MARKS` is set and readable, relative to the origin it names, and parsed back by
 * `bench/_kiln_process.ts`. Never its timings.
 */
import assert from "node:assert/strict";
import { parseStartupMarks } from "../../bench/_kiln_process.ts";

const MARKS = new URL("../../runtime/_startup_marks.ts", import.meta.url).href;

/** Runs a script that marks a, b (twice, once), a span, and a first output, with `env` and `flags`. */
async function runMarks(env: Record<string, string>, flags: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "kiln-marks-test-" });
  try {
    await Deno.writeTextFile(
      `${dir}/script.ts`,
      `import { mark, markFirstOutput, span, startupMarksEnv, startupMarksOn } from "${MARKS}";
const t0 = performance.now();
mark("a");
mark("b", { once: true });
mark("b", { once: true });
span("work", t0);
markFirstOutput("fft", [["peak_hz", 1, Date.now()]], 0);
markFirstOutput("fft", [["peak_hz", 2, Date.now()]], 0);
console.log(startupMarksOn() ? "on" : "off");
console.log(JSON.stringify(startupMarksEnv()));
`,
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", ...flags, `${dir}/script.ts`],
      env,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    return `${new TextDecoder().decode(stdout)}\n${new TextDecoder().decode(stderr)}`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the startup trace parses marks and spans in order and ignores every other line", () => {
  const marks = parseStartupMarks(
    "kiln: starting\n@@mark process_start 12.50 42\n@@span compile:fft 3.25 40.00 42\nnoise @@mark x 1 2\n" +
      "@@mark first_output:fft 99 43\n",
  );
  assert.deepEqual(marks, [
    { kind: "mark", name: "process_start", atMs: 12.5, durationMs: null, pid: 42 },
    { kind: "span", name: "compile:fft", atMs: 40, durationMs: 3.25, pid: 42 },
    { kind: "mark", name: "first_output:fft", atMs: 99, durationMs: null, pid: 43 },
  ]);
});

Deno.test("with KILN_STARTUP_MARKS set to an origin, a process prints its marks relative to it", async () => {
  const origin = performance.timeOrigin + performance.now();
  const out = await runMarks({ KILN_STARTUP_MARKS: origin.toFixed(3) }, ["--allow-env=KILN_STARTUP_MARKS"]);
  assert.match(out, /^on$/m);
  // A relaunched child given this keeps the same origin.
  assert.ok(out.split("\n").includes(JSON.stringify({ KILN_STARTUP_MARKS: origin.toFixed(3) })));
  const marks = parseStartupMarks(out);
  assert.deepEqual(marks.map((m) => m.name), ["process_start", "a", "b", "work", "first_output:fft"]);
  for (const m of marks) assert.ok(m.atMs >= 0, `${m.name} at ${m.atMs} is before the origin`);
  for (let i = 2; i < marks.length; i++) assert.ok(marks[i]!.atMs >= marks[i - 1]!.atMs - 1); // Date.now is in ms
  assert.ok(marks[0]!.atMs <= marks[1]!.atMs, "the process started before its first mark");
  assert.ok(marks.every((m) => m.pid === marks[0]!.pid));
  assert.ok(marks.find((m) => m.name === "work")!.durationMs! >= 0);
});

Deno.test("without the variable, or without permission to read it, a process prints no marks", async () => {
  const off = await runMarks({}, ["--allow-env=KILN_STARTUP_MARKS"]);
  assert.match(off, /^off$/m);
  assert.match(off, /^\{\}$/m);
  assert.deepEqual(parseStartupMarks(off), []);
  // Set but not readable (a narrowed relaunch that was not granted it): off, and never a prompt.
  const denied = await runMarks({ KILN_STARTUP_MARKS: "1" }, []);
  assert.match(denied, /^off$/m);
  assert.deepEqual(parseStartupMarks(denied), []);
});
