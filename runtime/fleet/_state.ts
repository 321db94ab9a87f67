/**
 * What the fleet deployed on this gateway, kept in `<data>/fleet/state.json` so that a restart still knows
 * which modules are the fleet's (only those may a desired state's `null` remove) and which image each runs.
 *
 * @module
 */
import { join } from "node:path";

/** One module the fleet deployed. */
export interface FleetModuleRecord {
  /** The pinned image reference deployed. */
  image: string;
  /** The module's SHA-256 (its blob). */
  sha256: string;
  /** Its manifest entry as the desired state gave it, JSON. */
  spec: string;
  /** The rev of the desired state that asked for it. */
  rev: number;
  /** `device` or `group:<name>`. */
  from: string;
  /** RFC 3339. */
  at: string;
}

/** The fleet's record of this gateway, by module name. */
export class FleetState {
  readonly #file: string;
  readonly modules = new Map<string, FleetModuleRecord>();

  private constructor(file: string) {
    this.#file = file;
  }

  /** An empty record for `dataDir` (written at the first {@linkcode FleetState.save}). */
  static empty(dataDir: string): FleetState {
    return new FleetState(join(dataDir, "fleet", "state.json"));
  }

  /**
   * Reads the record from `<dataDir>/fleet/state.json` (none yet: empty).
   *
   * @throws {SyntaxError} when the file is not JSON.
   */
  static async open(dataDir: string): Promise<FleetState> {
    const state = FleetState.empty(dataDir);
    let text: string;
    try {
      text = await Deno.readTextFile(state.#file);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return state;
      throw err;
    }
    const doc = JSON.parse(text) as { modules?: Record<string, FleetModuleRecord> };
    for (const [name, record] of Object.entries(doc.modules ?? {})) {
      if (
        record && typeof record.image === "string" && typeof record.sha256 === "string" &&
        typeof record.spec === "string"
      ) {
        state.modules.set(name, record);
      }
    }
    return state;
  }

  /** Writes the record (a temporary file renamed over the old one: never half written). */
  async save(): Promise<void> {
    const dir = join(this.#file, "..");
    await Deno.mkdir(dir, { recursive: true });
    const tmp = `${this.#file}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify({ modules: Object.fromEntries(this.modules) }, null, 2));
    await Deno.rename(tmp, this.#file);
  }
}
