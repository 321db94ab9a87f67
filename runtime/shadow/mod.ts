/**
 * Shadow validation (`docs/shadow.md`): a candidate build of a running module runs beside it on the same
 * inputs, every side effect captured instead of carried out, and the runtime counts matched and diverged
 * invocations, the largest difference per output and the time per call of each.
 *
 * @example Attach a candidate and read its status
 * ```ts ignore
 * const status = await runtime.shadows.attach("anomaly", { wasm: await Deno.readFile("anomaly-v2.wasm") });
 * console.log(runtime.shadows.status("anomaly")?.diverged);
 * ```
 *
 * @module
 */
export {
  type CallTimes,
  SHADOW_STARTS,
  type ShadowCandidate,
  type ShadowDivergence,
  type ShadowLiveInstance,
  type ShadowRequest,
  Shadows,
  type ShadowsOptions,
  type ShadowStart,
  type ShadowStatus,
} from "./shadow.ts";
export { ShadowActiveError, ShadowNotFoundError } from "./errors.ts";
