import assert from "node:assert/strict";
import { ROOT, runKiln } from "../_process.ts";

const noStack = (text: string) =>
  assert.doesNotMatch(text, /^\s+at .+:\d+:\d+\)?$/m, `no stack trace in:\n${text}`);

Deno.test("kiln validate reports all three mistakes of examples/invalid.yaml with paths and lines", async () => {
  const r = await runKiln(["validate", "examples/invalid.yaml"]);
  assert.equal(r.code, 1);
  noStack(r.stderr);
  const issues = r.stderr.split("\n").filter((l) => /^\s+modules\./.test(l));
  assert.equal(issues.length, 3, r.stderr);
  assert.match(r.stderr, /modules\.fft\.limits\.max_memory_mb: .*\(line \d+\)/);
  assert.match(r.stderr, /modules\.fft\.schedule\.widow: .*\(line \d+\)/);
  assert.match(r.stderr, /modules\.temperature\.capabilities\[1\]: .*\(line \d+\)/);
});

Deno.test("kiln validate accepts the demo manifest and loads every module it names", async () => {
  const r = await runKiln(["validate", "examples/demo.yaml"]);
  assert.equal(r.code, 0, r.stderr);
  for (const name of ["fft", "anomaly", "temperature"]) {
    assert.match(r.stdout, new RegExp(`^  ${name}: \\d+ bytes`, "m"));
  }
});

Deno.test("kiln validate notes scheduling.cpus this machine does not have, and still accepts the manifest", async () => {
  const dir = await Deno.makeTempDir();
  const demo = await Deno.readTextFile(`${ROOT}examples/demo.yaml`);
  const cpus = navigator.hardwareConcurrency;
  await Deno.writeTextFile(
    `${dir}/cpus.yaml`,
    `${demo.replaceAll("../modules/", `${ROOT}modules/`)}\nscheduling:\n  cpus:\n` +
      `    runtime: [0]\n    realtime: [${cpus + 2}]\n    normal: [0, ${cpus}]\n`,
  );
  const r = await runKiln(["validate", `${dir}/cpus.yaml`]);
  assert.equal(r.code, 0, r.stderr);
  const notes = r.stdout.split("\n").filter((l) => l.startsWith("  note: "));
  assert.deepEqual(notes, [
    `  note: scheduling.cpus.realtime lists CPU ${cpus + 2}, but this machine has ${cpus} (0-${
      cpus - 1
    }): kiln run here would leave that thread unpinned`,
    `  note: scheduling.cpus.normal lists CPU ${cpus}, but this machine has ${cpus} (0-${cpus - 1})`,
  ]);
});

Deno.test("user mistakes print one clear message and exit non-zero without a stack trace", async (t) => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/bad.yaml`, "version: 1\ndevice: [unclosed\n");
  await Deno.writeFile(`${dir}/junk.wasm`, new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 200, 1]));
  const demo = await Deno.readTextFile(`${ROOT}examples/demo.yaml`);
  await Deno.writeTextFile(
    `${dir}/pinned.yaml`,
    demo.replaceAll("../modules/", `${ROOT}modules/`).replace(
      "wasm: " + `${ROOT}modules/fft/fft.wasm`,
      `wasm: ${ROOT}modules/fft/fft.wasm\n    sha256: "${"ab".repeat(32)}"`,
    ),
  );
  const cases: [string, string[], number, RegExp][] = [
    ["a missing manifest", ["validate", `${dir}/missing.yaml`], 1, /does not exist/],
    [
      "a YAML syntax error",
      ["validate", `${dir}/bad.yaml`],
      1,
      /YAML syntax error.*\(line \d+, column \d+\)/,
    ],
    ["a malformed wasm", ["inspect", `${dir}/junk.wasm`], 1, /Section 5 \(memory\)/],
    ["a missing wasm", ["inspect", `${dir}/none.wasm`], 1, /does not exist/],
    ["a checksum mismatch", ["validate", `${dir}/pinned.yaml`], 1, /Checksum mismatch for module "fft"/],
    ["an unknown command", ["explode"], 2, /Unknown command "explode"/],
    ["an unknown flag", ["run", "--bogus"], 2, /Unknown option '--bogus'$/m],
    ["a misspelled command", ["stauts"], 2, /Unknown command "stauts"; did you mean "status"\?/],
    [
      "a misspelled flag",
      ["run", "--lisen", "127.0.0.1:0"],
      2,
      /Unknown option '--lisen'; did you mean '--listen'\?/,
    ],
    ["a bad --fault", ["run", "--fault", "vibration_1=fire"], 2, /Invalid --fault/],
    ["a bad --listen", ["run", "--listen", "localhost"], 2, /--listen/],
    [
      "a --data path that is a file",
      ["run", "--data", `${dir}/bad.yaml`, "--listen", "127.0.0.1:0"],
      1,
      /File exists/,
    ],
  ];
  for (const [what, args, code, re] of cases) {
    await t.step(what, async () => {
      const r = await runKiln(args);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, re);
      assert.match(r.stderr, /^kiln: /);
      noStack(r.stderr);
    });
  }
});

Deno.test("kiln inspect lists a module's imports, exports and memory", async () => {
  const r = await runKiln(["inspect", "modules/fft/fft.wasm"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /kiln\.output\s+function\s+\(i32, i32, f64\) -> i32/);
  assert.match(r.stdout, /kiln_on_samples\s+function\s+\(i32, i32\) -> i32/);
  assert.match(r.stdout, /Memory 0: \d+ pages/);
  assert.match(r.stdout, /ABI v1: compatible/);
  const json = await runKiln(["inspect", "--json", "modules/temperature/temperature.wasm"]);
  const report = JSON.parse(json.stdout);
  assert.ok(report.exports.some((e: { name: string }) => e.name === "kiln_on_tick"));
  assert.deepEqual(report.abi_problems, []);
});

Deno.test("kiln --version and --help answer without starting anything", async () => {
  const v = await runKiln(["--version"]);
  assert.equal(v.code, 0);
  const { version } = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assert.equal(v.stdout.trim(), `kiln ${version}`);
  const h = await runKiln(["--help"]);
  assert.equal(h.code, 0);
  for (const cmd of ["run", "validate", "inspect"]) assert.match(h.stdout, new RegExp(`kiln ${cmd}`));
});

Deno.test("a --data directory outside the command's Deno permissions is a clear error, not a stack trace", async () => {
  const dir = await Deno.makeTempDir();
  // The permissions of `deno task start`: write only ./data.
  const r = await runKiln(["run", "--data", `${dir}/data`, "--listen", "127.0.0.1:0"], {
    flags: ["--allow-read=.", "--allow-write=./data", "--allow-net=127.0.0.1", "--allow-env"],
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^kiln: Requires write access .*permissions do not allow it/);
  noStack(r.stderr);
});
