/**
 * The fleet agent's shadows (`docs/fleet.md`, "Shadow phases"): a desired state's `shadows` section asks the
 * gateway to run a candidate image beside a module's live version (`docs/shadow.md`), compared and never
 * acting. This part pulls the candidate (a listed registry, a signature attached, verified as a deploy's is
 * against the gateway's own roots when it loads), attaches it through the runtime's {@linkcode Shadows}, keeps
 * which shadows are the fleet's, re-attaches one whose live module restarted, and drops the fleet's shadow
 * when no document asks for it any more. It never touches a shadow an operator attached.
 *
 * @module
 */
import type { LoadedManifest } from "../manifest/mod.ts";
import type { Shadows, ShadowStatus } from "../shadow/shadow.ts";
import { RegistryHttpError, RegistryUnavailableError } from "../../registry/mod.ts";
import { boundedMessage, type DesiredShadow, type MergedShadow, type ReportedError } from "./protocol.ts";
import { pullSigned } from "./_pull.ts";

/** What the fleet's shadows need of the gateway. */
export interface FleetShadowsOptions {
  manifest: LoadedManifest;
  shadows: Pick<Shadows, "attach" | "drop" | "status">;
  /** The module's state (`running`...), or null when there is no such module. */
  state(name: string): string | null;
  log(line: string): void;
}

/** A shadow the fleet attached. */
interface Attached {
  /** The desired entry, as JSON: a different one replaces the shadow. */
  key: string;
  image: string;
  sha256: string;
}

/** A refusal kept (not retried for the same entry) or a pull to retry. */
interface Failure {
  key: string;
  retry: boolean;
  error: ReportedError;
}

/** Why a shadow stops that is not the candidate's doing: the fleet attaches it again. */
const TRANSIENT_STOPS = /^(module_stopped|capture_failed|stopped)/;

/** The shadows one gateway's fleet agent keeps. */
export class FleetShadows {
  readonly #o: FleetShadowsOptions;
  readonly #attached = new Map<string, Attached>();
  readonly #failures = new Map<string, Failure>();
  /** Modules whose shadow waits for the module to run (or to be re-attached): a pass is due. */
  readonly #waiting = new Set<string>();

  constructor(o: FleetShadowsOptions) {
    this.#o = o;
  }

  /**
   * Converges every shadow to the merged desired states; returns the documents (`device`, `group:<name>`)
   * whose shadows are not as asked yet (a failure kept, or a module not running).
   */
  async converge(merged: ReadonlyMap<string, MergedShadow>, superseded: () => boolean): Promise<Set<string>> {
    const pending = new Set<string>();
    for (const name of [...this.#attached.keys()]) {
      const want = merged.get(name)?.want ?? null;
      if (want === null) this.#drop(name);
    }
    for (const name of [...this.#failures.keys()]) if (!merged.has(name)) this.#failures.delete(name);
    this.#waiting.clear();
    for (const [name, m] of merged) {
      if (superseded()) return pending;
      if (m.want === null) {
        this.#failures.delete(name);
        continue;
      }
      if (!await this.#convergeOne(name, m.want, m.rev)) pending.add(m.from);
    }
    return pending;
  }

  /** Whether a pass is due without a new document: a retry, or a shadow waiting for its module. */
  due(): boolean {
    if (this.#waiting.size > 0) return true;
    for (const f of this.#failures.values()) if (f.retry) return true;
    for (const [name, a] of this.#attached) {
      const s = this.#o.shadows.status(name);
      if (s === null || s.candidateSha256 !== a.sha256) return true;
      if (s.state === "stopped" && TRANSIENT_STOPS.test(s.reason ?? "")) return true;
    }
    return false;
  }

  /** The image of the module's shadow when the fleet attached it (its candidate is `sha256`), else null. */
  imageOf(name: string, sha256: string): string | null {
    const a = this.#attached.get(name);
    return a !== undefined && a.sha256 === sha256 ? a.image : null;
  }

  /** The kept refusals and retries, for the reported state. */
  errors(): ReportedError[] {
    return [...this.#failures.values()].map((f) => f.error);
  }

  /** Converges one module's shadow; false when it is not as asked yet. */
  async #convergeOne(name: string, want: DesiredShadow, rev: number): Promise<boolean> {
    const key = JSON.stringify(want);
    const ours = this.#attached.get(name);
    const status = this.#o.shadows.status(name);
    if (ours !== undefined && ours.key === key && status?.candidateSha256 === ours.sha256) {
      if (status.state !== "stopped" || !TRANSIENT_STOPS.test(status.reason ?? "")) {
        this.#failures.delete(name);
        return true; // running, or stopped by the candidate's doing: reported as it is
      }
    }
    if (this.#o.state(name) !== "running") {
      this.#waiting.add(name); // a shadow runs beside a running module: the next pass tries again
      return false;
    }
    const failed = this.#failures.get(name);
    if (failed !== undefined && failed.key === key && !failed.retry) return false;
    if (ours !== undefined) this.#drop(name);
    try {
      const { pulled, signature } = await pullSigned(this.#o.manifest, name, want.image);
      const attached: ShadowStatus = await this.#o.shadows.attach(name, {
        wasm: pulled.wasm,
        signature,
        tolerance: want.tolerance,
        start: want.start,
        warmupInvocations: want.warmup,
        by: "fleet",
      });
      this.#attached.set(name, { key, image: want.image, sha256: attached.candidateSha256 });
      this.#failures.delete(name);
      this.#o.log(`fleet: shadow of ${name}: ${want.image} attached (start ${want.start})`);
      return true;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === "module_state") {
        this.#waiting.add(name); // it stopped meanwhile
        return false;
      }
      const retry = err instanceof RegistryUnavailableError ||
        (err instanceof RegistryHttpError && err.status >= 500);
      const message = boundedMessage(`shadow: ${(err as Error)?.message ?? String(err)}`);
      this.#o.log(`fleet: ${name}: ${message}`);
      this.#failures.set(name, {
        key,
        retry,
        error: { module: name, rev, code: typeof code === "string" ? code : "internal", message },
      });
      return false;
    }
  }

  /** Drops the fleet's shadow of `name` (when the runtime still has it) and forgets it. */
  #drop(name: string): void {
    const ours = this.#attached.get(name);
    this.#attached.delete(name);
    if (ours === undefined) return;
    const status = this.#o.shadows.status(name);
    if (status === null || status.candidateSha256 !== ours.sha256) return; // replaced by an operator's
    try {
      this.#o.shadows.drop(name);
      this.#o.log(`fleet: shadow of ${name} dropped`);
    } catch (err) {
      this.#o.log(`fleet: cannot drop the shadow of ${name}: ${(err as Error).message}`);
    }
  }
}
