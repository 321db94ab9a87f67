/**
 * What `createRuntime` takes, and how it loads modules: the gateway's signature policy applied to every load
 * (`signatures.ts`), and a module of the plan refused at start for its signature left out while the others
 * run. Private to `runtime/`.
 *
 * @module
 */
import { KilnError } from "../errors.ts";
import { formatLogLine, type LogEntry } from "../log_text.ts";
import type { PointDriver } from "../hal/point_driver.ts";
import type { AlertLog, AuditLog, Outbox } from "../snapshots/mod.ts";
import type { SimFault } from "./io/plant.ts";
import { type LoadedModule, loadModule } from "./loader.ts";
import type { Snapshotter } from "./persistence/snapshotter.ts";
import type { DeploymentPlan, ModulePlan } from "./plan.ts";
import { createModuleVerifier } from "./signatures.ts";

/** Options of {@linkcode createRuntime}. */
export interface RuntimeOptions {
  plan: DeploymentPlan;
  version: string;
  /**
   * Where the runtime writes what it prints: its own lines (lifecycle) as strings, and module logs, alerts
   * and denials as records (`../log_text.ts`), so their text can be escaped and marked as the module's.
   * @default each entry formatted as `text` and written with `console.log`
   */
  log?: (entry: LogEntry) => void;
  /**
   * Faults injected into the simulated plant at start, by sensor id; an unknown sensor or a fault of the
   * wrong kind fails {@linkcode createRuntime} (as `SimPlant.setFault` throws).
   */
  faults?: ReadonlyMap<string, SimFault>;
  /** Where grants, revocations, denials and capability use are recorded; none when omitted. */
  audit?: AuditLog;
  /**
   * Where alerts are kept across restarts (numbering continued, acknowledgements audited); without it the
   * runtime keeps its last 1000 alerts in memory.
   */
  alerts?: AlertLog;
  /** Where snapshots are saved and found; without it no module is snapshotted. */
  snapshots?: Snapshotter;
  /** The store-and-forward outbox; needed when the plan has an MQTT uplink. */
  outbox?: Outbox;
  /**
   * Where recordings of running modules are written (`<data>/traces`); left out, each module's last trace
   * is kept in memory (`record/live.ts`).
   */
  traceDir?: string | null;
  /**
   * Where files the runtime writes for a moment go (a shadow candidate's bytes while they load: `<data>/tmp`,
   * which a sandboxed gateway may write); left out, the system's temp directory.
   */
  scratchDir?: string | null;
  /** The point drivers, whose connectors the runtime makes (tests). @default the registry's (`hal/drivers.ts`) */
  drivers?: readonly PointDriver[];
  /**
   * Test seam: loads a module in place of {@linkcode loadModule} (at start and on deploy), so that tests can
   * hand the layers below the loader (executors, the watchdog) a module the loader would refuse. Never set
   * it in production: it bypasses every check the loader makes. @default loadModule
   */
  loadModule?: (plan: ModulePlan) => Promise<LoadedModule>;
}

/** Loads (and verifies) one module; `installedVersion` and `rollback` are a deploy's (`signatures.ts`). */
export type LoadFn = (
  plan: ModulePlan,
  how?: { installedVersion?: string | null; rollback?: boolean },
) => Promise<LoadedModule>;

/** Each entry formatted as `text` and written with `console.log`. */
export const defaultLog = (entry: LogEntry) => console.log(formatLogLine(entry, { format: "text" }));

/**
 * The runtime's module loader: the test seam `options.loadModule` if set, else {@linkcode loadModule} with
 * the plan's signature policy (its trust store read once, here).
 *
 * @throws {import("../signing/mod.ts").PkiError} when a trusted root or a CRL cannot be read.
 */
export async function moduleLoader(options: RuntimeOptions, log: (entry: LogEntry) => void): Promise<LoadFn> {
  if (options.loadModule) return options.loadModule;
  const { signatures } = options.plan;
  const verifier = signatures
    ? await createModuleVerifier({
      policy: signatures,
      hardware: options.plan.device.hardware ?? null,
      runtimeVersion: options.version,
      audit: options.audit ?? null,
      log,
    })
    : null;
  return (plan, how = {}) =>
    loadModule(plan, verifier ? { verify: (p, bytes) => verifier.verify(p, bytes, how) } : {});
}

/**
 * Loads the plan's modules. One whose signature does not verify stays out (stopped, logged; the verifier
 * audited it) and the others run; anything else wrong with a module fails the start, as `kiln validate`
 * would.
 */
export async function loadAll(
  plans: readonly ModulePlan[],
  load: LoadFn,
  log: (entry: LogEntry) => void,
): Promise<LoadedModule[]> {
  const loaded: LoadedModule[] = [];
  for (const plan of plans) {
    try {
      loaded.push(await load(plan));
    } catch (err) {
      if (!(err instanceof KilnError && err.code === "signature_invalid")) throw err;
      log(`kiln: module ${plan.name} refused at start, not run: ${err.message}`);
    }
  }
  return loaded;
}
