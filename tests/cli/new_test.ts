/**
 * `kiln new`: for each language, the project it writes builds with its own build.sh (outside this
 * repository), its kiln.yaml validates, and the built module runs in a runtime; bad names and non-empty
 * folders are refused.
 */
import assert from "node:assert/strict";
import { main } from "../../cli/mod.ts";
import { createProject, InvalidModuleNameError, ProjectExistsError, SDK_FILES } from "../../cli/new.ts";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { createRuntime, planDeployment } from "../../runtime/mod.ts";
import { waitFor } from "../_helpers.ts";

/** A cold rustc, or asc fetched by npx on first use; a backstop, not a measure. */
const BUILD_TIMEOUT_MS = 300_000;

/** Runs the CLI in process with its console output captured. */
async function kiln(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return { code: await main(args), out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

async function runBuild(dir: string): Promise<void> {
  const { code, stdout, stderr } = await new Deno.Command("sh", {
    args: ["build.sh"],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, `build.sh failed:\n${text}`);
}

for (const lang of ["c", "rust", "as"] as const) {
  Deno.test(`kiln new --lang ${lang} writes a project whose build.sh builds a module that validates and runs`, async () => {
    const root = await Deno.makeTempDir({ prefix: `kiln_new_${lang}_` });
    try {
      const dir = `${root}/vib-${lang}`;
      const made = await kiln("new", `vib-${lang}`, "--lang", lang, "--dir", dir);
      assert.equal(made.code, 0, made.err);
      assert.match(made.out, /kiln\.yaml/);
      await runBuild(dir);
      const wasm = await Deno.readFile(`${dir}/vib-${lang}.wasm`);
      assert.ok(WebAssembly.validate(wasm));

      const validated = await kiln("validate", `${dir}/kiln.yaml`);
      assert.equal(validated.code, 0, validated.err);

      const plan = planDeployment(await loadManifest(`${dir}/kiln.yaml`));
      assert.deepEqual(plan.modules[0]!.capabilities, ["read:sim:vibration_1"]);
      await using rt = await createRuntime({ plan, version: "test", log: () => {} });
      await rt.start();
      const m = await waitFor(`vib-${lang}'s outputs`, () => {
        const s = rt.getModule(`vib-${lang}`)!;
        return s.outputs.rms_g !== undefined && s.invocations >= 3 && s;
      });
      assert.equal(m.state, "running");
      assert.equal(m.errors, 0);
      assert.ok(m.outputs.rms_g! > 0 && m.outputs.rms_g! < 16, `rms_g ${m.outputs.rms_g}`);
      assert.ok(m.outputs.peak_g! >= m.outputs.rms_g!);
      assert.ok(rt.getModuleLogs(`vib-${lang}`)!.some((l) => l.message === `vib-${lang} started`));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}

Deno.test("kiln new refuses a name that is not a module name, naming the rule", async () => {
  const root = await Deno.makeTempDir();
  try {
    await assert.rejects(
      createProject("Vibration", "c", { dir: `${root}/x` }),
      (err: unknown) => err instanceof InvalidModuleNameError && err.code === "invalid_module_name",
    );
    const cli = await kiln("new", "9lives", "--lang", "rust", "--dir", `${root}/y`);
    assert.equal(cli.code, 1);
    assert.match(cli.err, /"9lives"/);
    assert.equal(await Array.fromAsync(Deno.readDir(root)).then((e) => e.length), 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("kiln new refuses a folder that is not empty and leaves it as it was", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${root}/notes.txt`, "keep");
    await assert.rejects(
      createProject("vib", "as", { dir: root }),
      (err: unknown) => err instanceof ProjectExistsError && err.code === "project_exists",
    );
    assert.deepEqual((await Array.fromAsync(Deno.readDir(root))).map((e) => e.name), ["notes.txt"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("kiln new without --lang or with an unknown one is a usage error (exit 2)", async () => {
  assert.equal((await kiln("new", "vib")).code, 2);
  assert.equal((await kiln("new", "vib", "--lang", "go")).code, 2);
  const help = await kiln("new", "--help");
  assert.equal(help.code, 0);
  assert.match(help.out, /kiln new <name> --lang c\|rust\|as/);
  assert.match(help.out, /Example:\n {2}kiln new /);
});

Deno.test("every SDK file kiln new copies is embedded in the bundle", async () => {
  const embedded = await Deno.readTextFile(new URL("../../embed/files.ts", import.meta.url));
  for (const path of Object.values(SDK_FILES).flat()) {
    assert.ok(embedded.includes(`["${path}", `), `${path} is not in embed/files.ts`);
  }
});
