/**
 * Kiln's entry point: hands the command line to the CLI and exits with its code.
 *
 * @module
 */
import { mark } from "./runtime/_startup_marks.ts"; // KILN_STARTUP_MARKS (bench/cold_start.ts)
import { launchFromCache } from "./cli/_launch_cache.ts";

mark("graph_loaded");
if (import.meta.main) {
  // `kiln run` with the grants a previous start computed: execs before the CLI (or Node's compatibility
  // layer) loads (cli/_launch_cache.ts).
  if (Deno.args[0] === "run") await launchFromCache(Deno.args.slice(1));
  await import("./cli/_env.ts"); // before any npm package: they read process.env as they load
  const { main } = await import("./cli/mod.ts");
  Deno.exit(await main(Deno.args));
}
