/**
 * The gateway's fleet agent (`docs/fleet.md`): subscribes to its desired state and its groups' on the MQTT
 * broker of `connectors.mqtt` (retained topics, so a gateway that was away converges when it is back),
 * converges to them one pass at a time, and publishes its reported state, retained, on every change and
 * every `report_every_s`.
 *
 * Converging a module: pull its digest-pinned image from a registry the manifest lists, refuse it without an
 * attached signature, and deploy it through the {@linkcode Deployer} with `by: "fleet"` and the signature, so
 * the signature is verified against the gateway's own trust roots whatever `signatures.mode` says, and the
 * deploy is recorded, tried, put on probation and rolled back like any other. `null` removes a module only
 * when the fleet deployed it. Each module's outcome is kept; a refusal is not retried until the desired image
 * changes, a registry that could not be reached is retried at the next report.
 *
 * A document's `shadows` section runs candidates beside live modules (`_shadows.ts`): a fleet rollout's shadow
 * phase. The reported state carries each module's shadow, whoever attached it.
 *
 * The agent has its own MQTT connection (client id `<connectors.mqtt.client_id>-fleet`, same broker,
 * credentials and TLS as the uplink): the uplink has no retained publish of its own.
 *
 * @module
 */
import { createMqttConnector, type MqttConnector } from "../../hal/mqtt/mod.ts";
import type { LoadedManifest } from "../manifest/mod.ts";
import type { MqttPlan } from "../plan.ts";
import type { Runtime } from "../runtime.ts";
import type { Deployer } from "../deployer.ts";
import { RegistryHttpError, RegistryUnavailableError } from "../../registry/mod.ts";
import {
  boundedMessage,
  type DesiredState,
  figuresOf,
  type FleetTopics,
  fleetTopics,
  MAX_REPORTED_ERRORS,
  mergeDesired,
  mergeShadows,
  parseDesired,
  type ReportedError,
  type ReportedModule,
  reportedShadowOf,
  type ReportedState,
} from "./protocol.ts";
import { FleetShadows } from "./_shadows.ts";
import { FleetDesiredInvalidError } from "./errors.ts";
import { FleetState } from "./_state.ts";
import { pullSigned } from "./_pull.ts";

/** Options of {@linkcode FleetAgent.start}. */
export interface FleetAgentOptions {
  /** The manifest file, loaded (its `fleet`, `registries` and module names). */
  manifest: LoadedManifest;
  /** The broker, as the uplink reaches it. */
  mqtt: MqttPlan;
  /** This Kiln's version, reported. */
  version: string;
  dataDir: string;
  runtime: Pick<Runtime, "listModules" | "onRollback" | "shadows">;
  deployer: Deployer;
  log: (line: string) => void;
}

/** One document received on a desired topic: parsed, cleared (null), or refused. */
type Received = { state: DesiredState | null; error: ReportedError | null };

/** An outcome kept per module: a refusal (not retried for the same image) or a pull to retry. */
interface Failure {
  image: string;
  /** The desired spec, as JSON. */
  spec: string;
  retry: boolean;
  error: ReportedError;
}

const encoder = new TextEncoder();

/** The fleet agent of one gateway. */
export class FleetAgent implements AsyncDisposable {
  readonly #o: FleetAgentOptions;
  readonly #topics: FleetTopics;
  readonly #state: FleetState;
  readonly #connector: MqttConnector;
  /** By `device` or `group:<name>`. */
  readonly #received = new Map<string, Received>();
  readonly #applied = new Map<string, number | null>();
  readonly #failures = new Map<string, Failure>();
  readonly #shadows: FleetShadows;
  #generation = 0;
  #pass: Promise<void> | null = null;
  #again = false;
  #closed = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** `fleet.report_every_s`, reported so the controller knows when a silent device is gone. */
  #reportEveryS = 10;
  #lastReport = "";

  private constructor(o: FleetAgentOptions, state: FleetState, connector: MqttConnector) {
    const fleet = o.manifest.fleet!;
    this.#o = o;
    this.#state = state;
    this.#connector = connector;
    this.#topics = fleetTopics(fleet.id, o.manifest.device.id, fleet.groups);
    this.#shadows = new FleetShadows({
      manifest: o.manifest,
      shadows: o.runtime.shadows,
      state: (name) => o.runtime.listModules().find((m) => m.name === name)?.state ?? null,
      log: o.log,
    });
  }

  /**
   * Connects to the broker, subscribes to the desired states and starts reporting. Resolves at once when the
   * broker is unreachable: the connector reconnects by itself and the subscriptions follow.
   *
   * @throws {TypeError} when the manifest has no `fleet` section or its broker is the embedded one.
   * @throws {Deno.errors.PermissionDenied} when `<data>/fleet/state.json` cannot be read.
   */
  static async start(o: FleetAgentOptions): Promise<FleetAgent> {
    const fleet = o.manifest.fleet;
    if (fleet === undefined) throw new TypeError("FleetAgent.start needs a manifest with a fleet section");
    if (o.mqtt.url === null) {
      throw new TypeError("fleet control needs connectors.mqtt.url: a broker the controller reaches too");
    }
    let state: FleetState;
    try {
      state = await FleetState.open(o.dataDir);
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      // A damaged record must not keep the gateway from starting: the fleet then owns no module until it
      // deploys one again (a `null` cannot remove what it deployed before).
      o.log(
        `fleet: ${o.dataDir}/fleet/state.json is not JSON (${err.message}); starting with an empty record`,
      );
      state = FleetState.empty(o.dataDir);
    }
    const password = o.mqtt.passwordFile === null
      ? undefined
      : (await Deno.readTextFile(o.mqtt.passwordFile)).split("\n")[0]!;
    const tls = o.mqtt.tls;
    const connector = createMqttConnector("fleet", {
      url: o.mqtt.url,
      clientId: `${o.mqtt.clientId}-fleet`,
      keepaliveS: o.mqtt.keepaliveS,
      connectTimeoutMs: o.mqtt.connectTimeoutMs,
      reconnect: { initialMs: o.mqtt.backoffMs, maxMs: o.mqtt.maxBackoffMs },
      ...(o.mqtt.username !== null && { username: o.mqtt.username }),
      ...(password !== undefined && { password }),
      ...(tls && {
        tls: {
          ...(tls.caFile && { caFile: tls.caFile }),
          ...(tls.certFile && { certFile: tls.certFile }),
          ...(tls.keyFile && { keyFile: tls.keyFile }),
        },
      }),
    });
    const agent = new FleetAgent(o, state, connector);
    await agent.#start(fleet.report_every_s);
    return agent;
  }

  async #start(reportEveryS: number): Promise<void> {
    this.#reportEveryS = reportEveryS;
    const { log } = this.#o;
    this.#connector.onConnectionChange((up) => {
      if (up) this.#report(true);
    });
    this.#o.runtime.onRollback(() => this.#report());
    const subscriptions = [
      { key: "device", topic: this.#topics.desired },
      ...this.#topics.groups.map((g) => ({ key: `group:${g.group}`, topic: g.topic })),
    ];
    for (const { key, topic } of subscriptions) {
      await this.#connector.subscribe(topic, (_topic, payload) => this.#receive(key, topic, payload), {
        qos: 1,
      });
    }
    this.#timer = setInterval(() => {
      if ([...this.#failures.values()].some((f) => f.retry) || this.#shadows.due()) this.#schedule();
      this.#report(true);
    }, reportEveryS * 1000);
    log(
      `fleet: ${this.#topics.desired} (and ${this.#topics.groups.length} group topics), reporting on ${this.#topics.reported}`,
    );
  }

  /** Takes in a document received on a desired topic, and schedules a pass. */
  #receive(key: string, topic: string, payload: Uint8Array): void {
    if (this.#closed) return;
    if (payload.byteLength === 0) {
      this.#received.set(key, { state: null, error: null }); // cleared
    } else {
      const parsed = parseDesired(payload);
      if (parsed.ok) this.#received.set(key, { state: parsed.state, error: null });
      else {
        const err = new FleetDesiredInvalidError(topic, parsed.message);
        this.#o.log(`fleet: ${err.message}`);
        // The last good document of that topic stays what it asks for.
        const previous = this.#received.get(key)?.state ?? null;
        this.#received.set(key, {
          state: previous,
          error: { module: null, rev: null, code: err.code, message: boundedMessage(err.message) },
        });
      }
    }
    this.#generation++;
    this.#schedule();
    this.#report();
  }

  /** Runs a pass now, or once the running one ends (a newer request supersedes a pending one). */
  #schedule(): void {
    if (this.#closed) return;
    if (this.#pass !== null) {
      this.#again = true;
      return;
    }
    this.#pass = (async () => {
      try {
        do {
          this.#again = false;
          await this.#converge();
          this.#report();
        } while (this.#again && !this.#closed);
      } catch (err) {
        this.#o.log(`fleet: a convergence pass failed: ${(err as Error).message}`);
      } finally {
        this.#pass = null;
      }
    })();
  }

  /** One pass over the merged desired states. */
  async #converge(): Promise<void> {
    const generation = this.#generation;
    const device = this.#received.get("device")?.state ?? null;
    const groups = this.#topics.groups.map((g) => ({
      group: g.group,
      state: this.#received.get(`group:${g.group}`)?.state ?? null,
    }));
    const merged = mergeDesired(device, groups);
    const failedDocs = new Set<string>();
    // A module no document names any more has no outcome to report.
    for (const name of [...this.#failures.keys()]) if (!merged.has(name)) this.#failures.delete(name);
    for (const [name, m] of merged) {
      if (this.#closed || generation !== this.#generation) return; // superseded: the next pass takes over
      const ok = await this.#convergeModule(name, m.want, m.rev);
      if (!ok) failedDocs.add(m.from);
    }
    // Shadows after modules: a shadow runs beside the version its document's modules asked for.
    const superseded = () => this.#closed || generation !== this.#generation;
    for (const from of await this.#shadows.converge(mergeShadows(device, groups), superseded)) {
      failedDocs.add(from);
    }
    if (superseded()) return;
    // A document is applied once every module it won is as it asks.
    const docs = [
      { key: "device", state: device },
      ...groups.map((g) => ({ key: `group:${g.group}`, state: g.state })),
    ];
    for (const { key, state } of docs) {
      if (state !== null && !failedDocs.has(key)) this.#applied.set(key, state.rev);
    }
  }

  /** Converges one module; false when it is not as asked (the failure is kept). */
  async #convergeModule(
    name: string,
    want: { image: string; spec: Record<string, unknown> } | null,
    rev: number,
  ) {
    const { deployer, log } = this.#o;
    const record = this.#state.modules.get(name);
    if (want === null) {
      this.#failures.delete(name);
      if (record === undefined) return true; // not the fleet's: never removed by it
      try {
        await deployer.remove(name, "fleet");
        log(`fleet: removed ${name} (rev ${rev})`);
      } catch (err) {
        if ((err as { code?: string }).code !== "module_unknown") {
          return this.#fail(name, { image: "", spec: "" }, rev, err, false);
        }
      }
      this.#state.modules.delete(name);
      await this.#state.save();
      return true;
    }
    const spec = JSON.stringify(want.spec);
    if (record?.image === want.image && record.spec === spec) {
      this.#failures.delete(name);
      return true;
    }
    const failed = this.#failures.get(name);
    if (failed !== undefined && failed.image === want.image && failed.spec === spec && !failed.retry) {
      return false;
    }
    try {
      const { pulled, signature } = await pullSigned(this.#o.manifest, name, want.image);
      log(`fleet: pulled ${want.image} for ${name} (${pulled.digest}), deploying`);
      const result = await deployer.deploy({
        name,
        spec,
        wasm: pulled.wasm,
        files: new Map(),
        by: "fleet",
        signature,
      });
      this.#state.modules.set(name, {
        image: want.image,
        sha256: result.status.sha256,
        spec,
        rev,
        from: "fleet",
        at: new Date().toISOString(),
      });
      await this.#state.save();
      this.#failures.delete(name);
      log(
        `fleet: deployed ${name} ${want.image} (version ${result.status.signature?.version ?? "unsigned"})`,
      );
      return true;
    } catch (err) {
      const retry = err instanceof RegistryUnavailableError ||
        (err instanceof RegistryHttpError && err.status >= 500);
      return this.#fail(name, { image: want.image, spec }, rev, err, retry);
    }
  }

  #fail(
    name: string,
    want: { image: string; spec: string },
    rev: number,
    err: unknown,
    retry: boolean,
  ): false {
    const e = err as { code?: unknown; message?: unknown };
    const code = typeof e?.code === "string" ? e.code : "internal";
    const message = boundedMessage(String(e?.message ?? err));
    this.#o.log(`fleet: ${name}: ${message}`);
    this.#failures.set(name, { ...want, retry, error: { module: name, rev, code, message } });
    return false;
  }

  /** The reported state now. */
  reported(): ReportedState {
    const { manifest, runtime, version } = this.#o;
    const modules = Object.create(null) as Record<string, ReportedModule>;
    for (const s of runtime.listModules()) {
      const fleet = this.#state.modules.get(s.name);
      const source = fleet !== undefined
        ? "fleet"
        : Object.hasOwn(manifest.modules, s.name)
        ? "manifest"
        : "api";
      modules[s.name] = {
        source,
        // Not after a rollback to another version (its `last_rollback` says why).
        ...(fleet !== undefined && fleet.sha256 === s.sha256 && { image: fleet.image }),
        sha256: s.sha256,
        version: s.signature?.version ?? null,
        state: s.state,
        probation: s.probation !== null,
        ...(s.last_rollback !== null &&
          { last_rollback: { at: s.last_rollback.at, reason: s.last_rollback.reason } }),
        figures: figuresOf(s),
      };
      const shadow = runtime.shadows.status(s.name);
      if (shadow !== null) {
        modules[s.name]!.shadow = reportedShadowOf(
          shadow,
          this.#shadows.imageOf(s.name, shadow.candidateSha256),
        );
      }
    }
    const errors: ReportedError[] = [];
    for (const r of this.#received.values()) if (r.error !== null) errors.push(r.error);
    for (const f of this.#failures.values()) errors.push(f.error);
    errors.push(...this.#shadows.errors());
    const group_revs = Object.create(null) as ReportedState["group_revs"];
    for (const g of this.#topics.groups) {
      const key = `group:${g.group}`;
      group_revs[g.group] = {
        applied: this.#applied.get(key) ?? null,
        seen: this.#received.get(key)?.state?.rev ?? null,
      };
    }
    return {
      rev_applied: this.#applied.get("device") ?? null,
      rev_seen: this.#received.get("device")?.state?.rev ?? null,
      group_revs,
      at: new Date().toISOString(),
      runtime_version: version,
      hardware: manifest.device.hardware ?? null,
      report_every_s: this.#reportEveryS,
      groups: this.#topics.groups.map((g) => g.group),
      modules,
      errors: errors.slice(-MAX_REPORTED_ERRORS),
    };
  }

  /** Publishes the reported state, retained, when it changed (or always, with `always`). */
  #report(always = false): void {
    if (this.#closed || !this.#connector.connected) return;
    const report = this.reported();
    const { at: _at, ...rest } = report;
    const key = JSON.stringify(rest);
    if (!always && key === this.#lastReport) return;
    this.#lastReport = key;
    this.#connector.publish(this.#topics.reported, encoder.encode(JSON.stringify(report)), {
      qos: 1,
      retain: true,
    })
      .catch((err) => this.#o.log(`fleet: cannot publish the reported state: ${(err as Error).message}`));
  }

  /** Stops reporting and converging (a pass under way is waited for, at most `CLOSE_WAIT_MS`) and disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#pass !== null) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.#pass, new Promise((r) => timer = setTimeout(r, CLOSE_WAIT_MS))]);
      clearTimeout(timer);
    }
    await this.#connector.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** How long a stop waits for a convergence pass under way, ms. */
const CLOSE_WAIT_MS = 5_000;
