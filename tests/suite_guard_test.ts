/**
 * A test suite that cannot hang: every child process a test, a test helper or a benchmark starts is bounded
 * by a timeout (`new Deno.Command(...)` with a `signal`), and nothing spawns synchronously without a reason
 * on the allow-list below. The checker is `_suite_guard.ts`; its own behaviour is tested here on strings.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  checkSource,
  checkTree,
  codeOnly,
  formatFindings,
  listTypeScript,
  type SyncSpawnAllowance,
} from "./_suite_guard.ts";

const ROOT = new URL("../", import.meta.url);

/**
 * Synchronous spawns allowed in the tree, each with why it cannot hang the suite. Empty: every spawn is
 * asynchronous and bounded. An entry names the file, a piece of the line and the reason.
 */
const SYNC_SPAWN_ALLOWED: readonly SyncSpawnAllowance[] = [];

Deno.test("the checker flags a Deno.Command without a signal, naming file and line", () => {
  const bad = `import x from "y";

const out = await new Deno.Command("ps", {
  args: ["-L"],
  stdout: "piped",
}).output();
`;
  assert.deepEqual(checkSource(bad, "tests/bad_test.ts"), [
    {
      file: "tests/bad_test.ts",
      line: 3,
      rule: "unbounded-command",
      text: `const out = await new Deno.Command("ps", {`,
    },
  ]);
  assert.match(formatFindings(checkSource(bad, "tests/bad_test.ts")), /^tests\/bad_test\.ts:3: /);
});

Deno.test("the checker accepts a signal property, written out or shorthand, also inside a spread", () => {
  for (
    const good of [
      `new Deno.Command("ps", { args: [], signal: AbortSignal.timeout(60_000) }).output();`,
      `new Deno.Command(cmd, { args, stdout: "piped", signal }).spawn();`,
      `new Deno.Command(cmd, {\n  args,\n  signal,\n}).spawn();`,
      `new Deno.Command(cmd, { ...(x && { env: {} }), signal: s });`,
    ]
  ) {
    assert.deepEqual(checkSource(good, "tests/good_test.ts"), [], good);
  }
});

Deno.test("a signal only in a comment, a string, the arguments or a later call does not count", () => {
  for (
    const bad of [
      `new Deno.Command("ps", { args: [] /* signal: later */ }).output();`,
      `new Deno.Command("ps", {\n  args: [], // signal: AbortSignal.timeout(1)\n}).output();`,
      `new Deno.Command("ps", { args: ["signal: x", \`signal: \${y}\`] }).output();`,
      `new Deno.Command("ps", { args: [signal] }).output();`,
      `new Deno.Command("ps", { args: f(a, (b)) }).spawn(); const o = { signal: s };`,
      `new   Deno.Command(\n  "ps",\n)`,
    ]
  ) {
    const found = checkSource(bad, "tests/bad_test.ts");
    assert.equal(found.length, 1, bad);
    assert.equal(found[0]!.rule, "unbounded-command");
  }
});

Deno.test("a Deno.Command inside a comment, a string, a template or a regular expression is not code", () => {
  const source = [
    `// new Deno.Command("ps").output();`,
    `/** @example new Deno.Command("ps", {}).spawn() */`,
    `const sample = "new Deno.Command('ps')";`,
    `const wrapped = \`new Deno.Command(\${"x"}) and outputSync()\`;`,
    `const re = /new Deno.Command\\("ps"\\)/;`,
    `const quote = /it's "quoted"/.test(s) ? 1 : 2;`,
  ].join("\n");
  assert.deepEqual(checkSource(source, "tests/samples_test.ts"), []);
  assert.equal(codeOnly(source).length, source.length, "offsets are kept");
  assert.equal(codeOnly(source).split("\n").length, source.split("\n").length, "lines are kept");
});

Deno.test("code after template substitutions and regular expressions is still checked", () => {
  const source = [
    `const a = \`\${b ? \`\${c}\` : "}"} done\`;`,
    `const r = x.replace(/["'\`]/g, "");`,
    `const half = total / 2 / count;`,
    `await new Deno.Command("gcc").output();`,
  ].join("\n");
  assert.deepEqual(checkSource(source, "tests/x_test.ts").map((f) => f.line), [4]);
});

Deno.test("a synchronous spawn is flagged unless it is allowed with a reason in that file", () => {
  const source = `const ok = new Deno.Command("umount", { args: [to], signal: s }).outputSync().success;
const child = spawnSync("ls");
execFileSync("id");`;
  assert.deepEqual(checkSource(source, "tests/sync_test.ts").map((f) => [f.line, f.rule]), [
    [1, "sync-spawn"],
    [2, "sync-spawn"],
    [3, "sync-spawn"],
  ]);
  const allowed = [{ file: "tests/sync_test.ts", match: `spawnSync("ls")`, reason: "ls cannot hang here" }];
  assert.deepEqual(checkSource(source, "tests/sync_test.ts", allowed).map((f) => f.line), [1, 3]);
  assert.deepEqual(checkSource(source, "tests/other_test.ts", allowed).map((f) => f.line), [1, 2, 3]);
  assert.throws(
    () =>
      checkSource(source, "tests/sync_test.ts", [{ file: "tests/sync_test.ts", match: "x", reason: " " }]),
    TypeError,
  );
});

Deno.test("every allowed synchronous spawn says why", () => {
  for (const a of SYNC_SPAWN_ALLOWED) assert.ok(a.reason.trim().length > 10, `${a.file}: ${a.match}`);
});

Deno.test("every child process the tests start is bounded by a timeout, and none is spawned synchronously", async () => {
  const found = await checkTree(ROOT, ["tests"], SYNC_SPAWN_ALLOWED);
  assert.equal(found.length, 0, `\n${formatFindings(found)}`);
});

Deno.test("every child process the benchmarks start is bounded by a timeout, and none is spawned synchronously", async () => {
  const found = await checkTree(ROOT, ["bench"], SYNC_SPAWN_ALLOWED);
  assert.equal(found.length, 0, `\n${formatFindings(found)}`);
});

Deno.test("the scan finds this suite's own process helpers, so an empty result means something", async () => {
  // If the walk missed files (a wrong root, a renamed folder), the two checks above would pass vacuously.
  const source = await Deno.readTextFile(new URL("tests/_process.ts", ROOT));
  assert.ok(/new Deno\.Command\(/.test(codeOnly(source)), "tests/_process.ts starts Kiln");
  const files = await listTypeScript(ROOT, "tests");
  assert.ok(
    files.includes("tests/_process.ts") && files.includes("tests/hal/_mosquitto.ts"),
    files.join(" "),
  );
  assert.ok((await listTypeScript(ROOT, "bench")).includes("bench/main.ts"));
});
