/**
 * The deployment manifest: which modules a gateway runs, what they may touch, and when they run.
 *
 * A manifest is YAML (or JSON, which is YAML). {@linkcode parseManifest} validates text against the schema and
 * the cross-section rules (references between sensors, channels and modules; capabilities against the
 * device policy and its limits) and reports every problem at once, each with its dotted path and line;
 * {@linkcode loadManifest} also reads the file and resolves the modules' `wasm` and `data` paths against the
 * manifest's directory.
 *
 * Permissions: `--allow-read` for the manifest and the files it names, and
 * `--allow-env=LOG_TOKENS,LOG_STREAM`, two debug variables the `yaml` package reads on every parse (without
 * them Deno throws `NotCapable` from inside the parser).
 *
 * @example Loading a manifest and printing its problems
 * ```ts ignore
 * import { loadManifest } from "./mod.ts";
 * import { isKilnError } from "../../errors.ts";
 *
 * try {
 *   const manifest = await loadManifest("examples/demo.yaml");
 *   console.log(Object.keys(manifest.modules));
 * } catch (err) {
 *   // ManifestError's message is the CLI text:
 *   //   Invalid manifest "examples/invalid.yaml" (3 issues):
 *   //     modules.fft.limits.max_memory_mb: expected a number, got a string ("two") (line 31)
 *   if (isKilnError(err)) console.error(err.message);
 *   else throw err;
 * }
 * ```
 *
 * @module
 */
export {
  formatIssue,
  ManifestError,
  type ManifestIssue,
  ManifestNotFoundError,
  ManifestReadError,
  type PolicyLimitDetail,
} from "./errors.ts";
export {
  DEFAULT_BLOCK_TIMEOUT_US,
  DEFAULT_POLICY_LIMITS,
  INIT_BUDGET_FACTOR,
  initBudgetUs,
  MIN_INIT_BUDGET_US,
  type PolicyLimitKey,
  REALTIME_PRIORITY,
} from "./policy.ts";
export { parseManifest, type ParseManifestOptions } from "./parse.ts";
export { type PathSegment, readDocument } from "./_document.ts";
export { type LoadedManifest, type LoadedModuleSpec, loadManifest, type ResolvedFile } from "./load.ts";
export {
  type ChannelSpec,
  type Connectors,
  type DataSpec,
  DEFAULT_BUDGET_US,
  DEFAULT_LISTEN,
  DEFAULT_MAX_MEMORY_MB,
  DEFAULT_PRIORITY,
  DEFAULT_WINDOW,
  type EventSchedule,
  type Limits,
  type ListenAddress,
  type Manifest,
  type ManifestInput,
  ManifestSchema,
  memoryPages,
  type ModuleSpec,
  type OverflowPolicy,
  parseListenAddress,
  type PeriodicSchedule,
  type Persistence,
  type Policy,
  type RestartPolicy,
  type Schedule,
  type SimSensorSpec,
  type StreamSchedule,
} from "./schema.ts";
