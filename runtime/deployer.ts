/**
 * Deploys over the API: a module's manifest entry (YAML or JSON) and its `.wasm` (and data blobs) are
 * checked exactly as `kiln validate` checks a manifest: the running deployment's manifest with this module
 * added or replaced is written to `<data>/deployed/manifest.yaml` and loaded with {@linkcode loadManifest},
 * so the device policy (its capabilities and its limits: priority, budgets, memory, the realtime executor's
 * grant, the number of modules), channels, connectors and every cross-check apply, all or nothing. Then
 * {@linkcode Runtime.replaceModule} swaps it in without ever replacing a good version with a bad one.
 *
 * Deployed modules run until the runtime stops; the manifest file stays the source of truth at the next
 * start (a module registry with versions comes later).
 *
 * @module
 */
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml, stringify } from "yaml";
import { KilnError } from "../errors.ts";
import { loadManifest, ManifestError } from "./manifest/mod.ts";
import { planDeployment } from "./plan.ts";
import { ModuleStateError } from "./errors.ts";
import { sha256Hex } from "./loader.ts";
import type { Runtime } from "./runtime.ts";
import type { ModuleStatus } from "./status.ts";

/** A deploy request was malformed: no name, no wasm, a data blob not uploaded. */
export class DeployRequestError extends KilnError {
  readonly code = "bad_request";
  readonly kind = "invalid";
}

/** What a deploy uploads. */
export interface DeployRequest {
  /** The module's name, as under `modules:`. */
  name: string;
  /** Its manifest entry, YAML or JSON; `wasm` may be left out (the upload is used). */
  spec: string;
  wasm: Uint8Array;
  /** Data blobs by file name (a `Map`: the names are the client's); the entry's `data:` paths name them. */
  files: ReadonlyMap<string, Uint8Array>;
}

/** Deploys and removes modules of a running runtime. */
export interface Deployer {
  /**
   * @throws {DeployRequestError} for a malformed request.
   * @throws {ManifestError} when the manifest with this module would be invalid.
   * @throws as {@linkcode Runtime.replaceModule}.
   */
  deploy(request: DeployRequest): Promise<{ status: ModuleStatus; replaced: string | null }>;
  /**
   * Stops and forgets a module; resolves once its instance is gone.
   *
   * @throws {import("./errors.ts").ModuleUnknownError} when there is no such module.
   * @throws {ModuleStateError} when a channel names it (change the manifest instead).
   */
  remove(name: string): Promise<void>;
}

const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
type Obj = Record<string, unknown>;

/** Options of {@linkcode createDeployer}. */
export interface DeployerOptions {
  /** The manifest file the runtime was started from. */
  manifestFile: string;
  dataDir: string;
  runtime: Pick<Runtime, "replaceModule" | "removeModule" | "plan">;
}

/** Creates the deployer of a runtime started from `manifestFile`. */
export function createDeployer(options: DeployerOptions): Deployer {
  const dir = resolve(options.dataDir, "deployed");
  let current: Obj | null = null;

  async function manifest(): Promise<Obj> {
    if (current) return structuredClone(current);
    const file = resolve(options.manifestFile);
    const raw = parseYaml(await Deno.readTextFile(file)) as Obj;
    absolutePaths(raw, dirname(file));
    current = raw;
    return structuredClone(raw);
  }

  return {
    async deploy(request) {
      const { name } = request;
      if (!NAME.test(name)) {
        throw new DeployRequestError(`Invalid module name "${name}": lowercase letters, digits, "_" or "-"`);
      }
      if (request.wasm.length === 0) throw new DeployRequestError("The deploy has no wasm file");
      let spec: unknown;
      try {
        spec = parseYaml(request.spec);
      } catch (err) {
        throw new DeployRequestError(
          `The module's manifest entry is not valid YAML: ${(err as Error).message}`,
        );
      }
      if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
        throw new DeployRequestError(
          "The module's manifest entry must be a mapping (the keys under modules.<name>)",
        );
      }
      const sha = await sha256Hex(request.wasm);
      const folder = `${dir}/${name}/${sha.slice(0, 16)}`;
      await Deno.mkdir(folder, { recursive: true });
      await Deno.writeFile(`${folder}/module.wasm`, request.wasm);
      const entry: Obj = { ...spec as Obj, wasm: `${folder}/module.wasm` };
      const data = (entry.data ?? {}) as Obj;
      if (typeof data !== "object" || data === null) throw new DeployRequestError("data must be a mapping");
      for (const [key, value] of Object.entries(data)) {
        const path = typeof value === "string" ? value : (value as Obj | null)?.path;
        if (typeof path !== "string") continue; // the schema reports it
        const file = path.split("/").at(-1)!;
        if (file === "" || file === "." || file === "..") {
          throw new DeployRequestError(`Data blob "${key}" names "${path}", which is not a file name`);
        }
        const bytes = request.files.get(file);
        if (!bytes) {
          throw new DeployRequestError(`Data blob "${key}" names "${file}", which was not uploaded`);
        }
        await Deno.writeFile(`${folder}/${file}`, bytes);
        data[key] = typeof value === "string"
          ? `${folder}/${file}`
          : { ...value as Obj, path: `${folder}/${file}` };
      }
      const next = await manifest();
      (next.modules as Obj)[name] = entry;
      const merged = `${dir}/manifest.yaml`;
      await Deno.writeTextFile(merged, stringify(next));
      const loaded = await loadManifest(merged).catch((err) => {
        // The issues name paths of the merged manifest; its lines are not the user's, so drop them (and keep
        // what a policy limit's issue says: the limit, the value asked for, the value allowed).
        if (err instanceof ManifestError) {
          throw new ManifestError(err.issues.map(({ line: _, column: __, ...issue }) => issue), null);
        }
        throw err;
      });
      const plan = planDeployment(loaded).modules.find((m) => m.name === name)!;
      const result = await options.runtime.replaceModule(plan);
      current = next;
      return result;
    },
    async remove(name) {
      const plan = options.runtime.plan;
      const channel = plan.channels.find((c) => c.writer === name || c.readers.includes(name));
      if (channel) {
        throw new ModuleStateError(name, `named by channel "${channel.id}"`, "delete");
      }
      const gone = options.runtime.removeModule(name);
      if (current) delete (current.modules as Obj)[name];
      await gone;
    },
  };
}

/** Rewrites a raw manifest's relative file paths (modules' wasm and data, MQTT's files) against `base`. */
function absolutePaths(raw: Obj, base: string): void {
  const abs = (p: unknown) => typeof p === "string" && !isAbsolute(p) ? resolve(base, p) : p;
  for (const m of Object.values((raw.modules ?? {}) as Record<string, Obj>)) {
    if (!m || typeof m !== "object") continue;
    m.wasm = abs(m.wasm);
    for (const [k, d] of Object.entries((m.data ?? {}) as Obj)) {
      (m.data as Obj)[k] = typeof d === "string"
        ? abs(d)
        : d && typeof d === "object"
        ? { ...d as Obj, path: abs((d as Obj).path) }
        : d;
    }
  }
  const mqtt = (raw.connectors as Obj | undefined)?.mqtt as Obj | undefined;
  if (mqtt) {
    if ("password_file" in mqtt) mqtt.password_file = abs(mqtt.password_file);
    const tls = mqtt.tls as Obj | undefined;
    if (tls) { for (const k of ["ca_file", "cert_file", "key_file"]) if (k in tls) tls[k] = abs(tls[k]); }
  }
}
