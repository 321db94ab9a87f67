/**
 * `deno task compile`: builds the single executable `dist/kiln` with the modules, examples and the executor
 * worker embedded. `deno compile` needs its runtime base (denort); on machines without internet it must
 * come from `DENORT_BIN`, and without it this script says so and exits 1.
 *
 * @module
 */
const denort = Deno.env.get("DENORT_BIN");
if (!denort) {
  console.error(
    "compile skipped: DENORT_BIN is not set. deno compile needs its runtime base (denort), which it would " +
      "download from the internet; point DENORT_BIN at a denort binary of the same Deno version.",
  );
  Deno.exit(1);
}
const args = [
  "compile",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env=LOG_TOKENS,LOG_STREAM,KILN_SANDBOXED,KILN_ADMIN_TOKEN,KILN_TOKEN,KILN_LOG_FORMAT,TMPDIR,TMP,TEMP",
  "--allow-sys=hostname,homedir,uid",
  // main.ts names the CLI through constants (a cached launch must not load its graph): include it here.
  "--include",
  "cli/_env.ts",
  "--include",
  "cli/mod.ts",
  "--include",
  "runtime/executor/worker.ts",
  "--include",
  "runtime/persistence/snapshot_worker.ts",
  "--include",
  "snapshots/migrations",
  "--include",
  "examples",
  "--include",
  "modules",
  "--output",
  "dist/kiln",
  "main.ts",
];
const { code } = await new Deno.Command(Deno.execPath(), { args, env: { DENORT_BIN: denort } }).spawn()
  .status;
if (code === 0) console.log("built dist/kiln");
Deno.exit(code);
