/**
 * Kiln's entry point: hands the command line to the CLI and exits with its code.
 *
 * @module
 */
import { mark } from "./runtime/_startup_marks.ts"; // KILN_STARTUP_MARKS (bench/cold_start.ts)
import { launchFromCache } from "./cli/_launch_cache.ts";

// The CLI's specifiers are held in variables: Deno loads the module graph of every literal `import()` before
// running any code (~50 ms here, the whole CLI), which a launcher that execs from its cache never needs.
// The bundle points them at dist/kiln_cli.js, the CLI bundled apart (scripts/bundle.ts), for the same reason.
const CLI_ENV = "./cli/_env.ts";
const CLI = "./cli/mod.ts";

mark("graph_loaded");
if (import.meta.main) {
  // `kiln run` with the grants a previous start computed: execs before the CLI (or Node's compatibility
  // layer) loads (cli/_launch_cache.ts).
  if (Deno.args[0] === "run") await launchFromCache(Deno.args.slice(1));
  await import(CLI_ENV); // before any npm package: they read process.env as they load
  const { main } = await import(CLI);
  Deno.exit(await main(Deno.args));
}
