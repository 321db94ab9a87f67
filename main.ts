/**
 * Kiln's entry point: hands the command line to the CLI and exits with its code.
 *
 * @module
 */
import "./cli/_env.ts"; // first: npm packages read process.env as they load
import { main } from "./cli/mod.ts";
import { mark } from "./runtime/_startup_marks.ts"; // KILN_STARTUP_MARKS (bench/cold_start.ts)

mark("graph_loaded");
if (import.meta.main) Deno.exit(await main(Deno.args));
