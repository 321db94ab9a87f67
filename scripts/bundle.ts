/**
 * `deno task bundle`: writes `dist/kiln.js` (the entry: a launcher that execs from its launch cache without
 * loading the rest), `dist/kiln_cli.js` (the CLI and the gateway, with every file they read at run time
 * embedded: the schema migrations and the demo, see `embed/`), `dist/executor_worker.js` and
 * `dist/snapshot_worker.js`, which run from any folder they are copied to together.
 *
 * Before bundling it checks what `embed/files.ts` embeds: every migration under `snapshots/migrations/`,
 * every file `examples/demo.yaml` names (its modules' `wasm` and `data`), and each embedded `.wasm` with the
 * sha256 `modules/hashes.json` commits (the hashes `deno task build:modules --check` rebuilds against). A
 * difference stops the bundle with exit code 1 and says which file.
 *
 * `dist/kiln.js` is bundled from `main.ts`'s own text with its CLI specifiers pointed at `./kiln_cli.js`
 * ({@linkcode cliImportsFrom}), written to `.bundle_entry.ts` beside `main.ts` and removed after; as in the
 * source tree, a `kiln run` whose launch cache holds its permissions execs before the CLI loads. In one file
 * with the CLI, the launcher evaluated all of it first (about 200 ms here) only to exec. `dist/kiln_cli.js`
 * is bundled from `.bundle_cli.ts`: `embed/files.ts`, `cli/_env.ts` (before any npm package), then the CLI's
 * `main`. Run with `--unstable-raw-imports` (it imports `embed/files.ts`).
 *
 * @module
 */
import { join, normalize, relative } from "node:path";
import { parse as parseYaml } from "yaml";
import { EMBEDDED_FILES } from "../embed/files.ts";
import { sha256Hex } from "../modules/build.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The CLI's bundle, as `dist/kiln.js` imports it. */
const CLI_BUNDLE = "./kiln_cli.js";
/** One `deno bundle` is about 2 s here; a backstop against a hang, not a measure. */
const BUNDLE_TIMEOUT_MS = 300_000;

/** What the embedded files lack or get wrong, one line each; empty when they are complete and match. */
export async function checkEmbedded(): Promise<string[]> {
  const problems: string[] = [];
  const wanted = new Set<string>();
  for await (const e of Deno.readDir(join(ROOT, "snapshots/migrations"))) {
    if (e.isFile && e.name.endsWith(".sql")) wanted.add(`snapshots/migrations/${e.name}`);
  }
  wanted.add("examples/demo.yaml");
  const demo = parseYaml(await Deno.readTextFile(join(ROOT, "examples/demo.yaml"))) as {
    modules: Record<string, { wasm: string; data?: Record<string, string> }>;
  };
  for (const m of Object.values(demo.modules)) {
    for (const file of [m.wasm, ...Object.values(m.data ?? {})]) {
      wanted.add(relative(ROOT, normalize(join(ROOT, "examples", file))));
    }
  }
  for (const path of wanted) {
    if (!EMBEDDED_FILES.has(path)) problems.push(`"${path}" is not in embed/files.ts`);
  }
  const hashes = JSON.parse(await Deno.readTextFile(join(ROOT, "modules/hashes.json"))) as Record<
    string,
    string
  >;
  for (const [path, bytes] of EMBEDDED_FILES) {
    if (!path.endsWith(".wasm")) continue;
    const key = path.replace(/^modules\//, "");
    const expected = Object.hasOwn(hashes, key) ? hashes[key] : undefined;
    const actual = await sha256Hex(bytes);
    if (expected === undefined) problems.push(`"${path}" has no entry in modules/hashes.json`);
    else if (actual !== expected) {
      problems.push(`"${path}" is ${actual}, modules/hashes.json says ${expected}`);
    }
  }
  return problems;
}

/** Bundles `entry` into `dist/<output>`; returns `deno bundle`'s exit code. */
async function bundle(entry: string, output: string): Promise<number> {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--unstable-raw-imports", "--platform=deno", "-o", join("dist", output), entry],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
    signal: AbortSignal.timeout(BUNDLE_TIMEOUT_MS),
  }).spawn().status;
  return code;
}

if (import.meta.main) {
  const problems = await checkEmbedded();
  if (problems.length > 0) {
    console.error(`bundle refused: the embedded files do not match the tree:\n  ${problems.join("\n  ")}`);
    Deno.exit(1);
  }
  await Deno.mkdir(join(ROOT, "dist"), { recursive: true });
  // The entry is main.ts itself, written beside it for the time of the bundle: deno bundle compiles
  // import.meta.main to false in every module but the entry, so main.ts must be the entry's own text.
  // Fixed names: the bundle names its source files in comments, and the same tree must give the same bytes
  // (the package's sha256 and cache folder follow from them).
  const entry = ".bundle_entry.ts";
  const cliEntry = ".bundle_cli.ts";
  await Deno.writeTextFile(
    join(ROOT, entry),
    cliImportsFrom(await Deno.readTextFile(join(ROOT, "main.ts")), CLI_BUNDLE),
  );
  await Deno.writeTextFile(
    join(ROOT, cliEntry),
    `import "./embed/files.ts";\nimport "./cli/_env.ts";\nexport { main } from "./cli/mod.ts";\n`,
  );
  let failed: string | null = null;
  try {
    for (
      const [source, output] of [
        [entry, "kiln.js"],
        [cliEntry, CLI_BUNDLE.slice(2)],
        ["runtime/executor/worker.ts", "executor_worker.js"],
        ["runtime/persistence/snapshot_worker.ts", "snapshot_worker.js"],
      ] as const
    ) {
      const code = await bundle(source, output);
      if (code !== 0) {
        failed = `bundle failed: deno bundle of "${source}" exited with ${code}`;
        break;
      }
    }
  } finally {
    await Deno.remove(join(ROOT, entry));
    await Deno.remove(join(ROOT, cliEntry));
  }
  if (failed !== null) {
    console.error(failed);
    Deno.exit(1);
  }
}

/**
 * main.ts with its CLI specifiers (`const CLI_ENV = "./cli/_env.ts";`, `const CLI = "./cli/mod.ts";`)
 * pointed at `cli`: still held in constants, so deno bundle leaves the import to run time and `dist/kiln.js`
 * holds only main.ts and the launch cache.
 *
 * @throws {Error} when main.ts no longer has the constants or their imports (the bundle would lack the CLI).
 */
export function cliImportsFrom(main: string, cli: string): string {
  let out = main;
  for (const name of ["CLI_ENV", "CLI"]) {
    const line = new RegExp(`^const ${name} = "[^"]+";$`, "m");
    if (!line.test(main) || !out.includes(`import(${name})`)) {
      throw new Error(
        `main.ts: expected "const ${name} = \"...\";" and "import(${name})" (scripts/bundle.ts)`,
      );
    }
    out = out.replace(line, `const ${name} = ${JSON.stringify(cli)};`);
  }
  return out;
}
