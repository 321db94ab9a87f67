/**
 * The controller loop behind `kiln fleet run`: one MQTT connection (the `mqtt` package), the fleet store and
 * the engine. Every report (`kiln/fleet/+/+/reported`) is stored (in batches, one transaction per step);
 * presence (`kiln/+/status` by default) marks devices offline; every rollout is stepped after reports arrive
 * (at most one step per {@linkcode MIN_STEP_GAP_MS}, or twice the last step's time when that is longer, so a
 * large fleet's reports are taken in batches) and every `tickMs`; what a step decides is written to the store
 * first, then published retained (QoS 1) on the devices' own desired topics. At every (re)connect every stored
 * document is published again, so a controller stopped between the two resumes where its store says, at any
 * moment.
 *
 * The controller is the only writer of devices, members and published documents (`kiln fleet` commands
 * write rollouts), so it keeps them in memory, written through, instead of reading the whole fleet back from
 * SQLite at every step.
 *
 * @module
 */
import "../hal/mqtt/_packet_numbers.ts"; // before mqtt.js writes a packet
import mqtt, { type MqttClient } from "mqtt";
import type { DesiredState, ReportedState } from "../runtime/fleet/protocol.ts";
import { type EngineOptions, stepRollout } from "./engine.ts";
import { FleetStore } from "./store.ts";
import type { KnownDevice, RolloutMember } from "./types.ts";

/** The shortest time between two steps started by reports, ms. */
export const MIN_STEP_GAP_MS = 100;
/** Reports waiting to be stored beyond this many are stored at once. */
const MAX_PENDING_REPORTS = 20_000;

/** Options of {@linkcode FleetController.start}. */
export interface ControllerOptions {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://` URL of the fleet's broker. */
  readonly broker: string;
  /** The directory of `fleet.db`. */
  readonly dataDir: string;
  readonly username?: string;
  readonly password?: string;
  /** A PEM file of the CA that signed the broker's certificate (mqtts). */
  readonly caFile?: string;
  /** Only this fleet's reports are read (`kiln/fleet/<fleet>/+/reported`). @default every fleet ("+") */
  readonly fleet?: string;
  /** How often every rollout is stepped without a report, ms. @default 1000 */
  readonly tickMs?: number;
  /** The presence topic with `+` where the device id is. @default "kiln/+/status" */
  readonly statusTopic?: string;
  readonly engine?: EngineOptions;
  /** Where progress lines go. @default console.log */
  readonly log?: (line: string) => void;
}

const REPORTED = /^kiln\/fleet\/([a-z0-9._-]{1,64})\/([^/]{1,128})\/reported$/;
const decoder = new TextDecoder();

/** A running controller. Dispose it to stop. */
export class FleetController implements AsyncDisposable {
  readonly #store: FleetStore;
  readonly #client: MqttClient;
  readonly #o: ControllerOptions;
  readonly #log: (line: string) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stepTimer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> = Promise.resolve();
  #pending = false;
  #closed = false;
  /** When the last step ended and how long it took, ms (performance.now). */
  #lastStepEnd = 0;
  #lastStepMs = 0;
  /** Reports not stored yet, by `fleet/device` (the newest of each). */
  readonly #reports = new Map<
    string,
    { fleet: string; device: string; reported: ReportedState; at_ms: number }
  >();
  /** Known devices by fleet, loaded from the store at a fleet's first step, then kept. */
  readonly #devices = new Map<string, Map<string, KnownDevice>>();
  /** The documents last published by fleet, likewise. */
  readonly #published = new Map<string, Map<string, DesiredState>>();
  /** Each unfinished rollout's members, likewise. */
  readonly #members = new Map<string, RolloutMember[]>();

  private constructor(o: ControllerOptions, store: FleetStore, client: MqttClient) {
    this.#o = o;
    this.#store = store;
    this.#client = client;
    this.#log = o.log ?? ((line) => console.log(line));
  }

  /**
   * Opens the store and connects; resolves once connected and subscribed.
   *
   * @throws {FleetStoreError} when the store cannot be opened.
   * @throws {Error} from mqtt.js when the first connection fails (refused, TLS, unreachable).
   */
  static async start(o: ControllerOptions): Promise<FleetController> {
    const store = FleetStore.open(o.dataDir);
    let client: MqttClient;
    try {
      client = await mqtt.connectAsync(o.broker, {
        clientId: `kiln-fleet-${crypto.randomUUID().slice(0, 8)}`,
        reconnectPeriod: 1000,
        connectTimeout: 10_000,
        ...(o.username !== undefined && { username: o.username }),
        ...(o.password !== undefined && { password: o.password }),
        ...(o.caFile !== undefined && { ca: await Deno.readTextFile(o.caFile) }),
      });
    } catch (err) {
      store.close();
      throw err;
    }
    const c = new FleetController(o, store, client);
    await c.#attach();
    return c;
  }

  async #attach(): Promise<void> {
    const statusTopic = this.#o.statusTopic ?? "kiln/+/status";
    const levels = statusTopic.split("/");
    const deviceLevel = levels.indexOf("+");
    this.#client.on("message", (topic, payload) => {
      const m = REPORTED.exec(topic);
      if (m !== null) {
        if (payload.byteLength === 0 || payload.byteLength > 256 * 1024) return;
        let reported: ReportedState;
        try {
          reported = JSON.parse(decoder.decode(payload)) as ReportedState;
        } catch {
          return; // Not JSON: a device's bug, not the controller's; its next report replaces it.
        }
        if (!isReported(reported)) return;
        this.#took(m[1]!, m[2]!, reported, Date.now());
        this.#schedule();
        return;
      }
      const parts = topic.split("/");
      if (deviceLevel >= 0 && parts.length === levels.length && decoder.decode(payload) === "offline") {
        const device = parts[deviceLevel]!;
        this.#flushReports(); // a report that came before it must not be stored after it
        this.#store.setOnline(device, false);
        for (const known of this.#devices.values()) {
          const d = known.get(device);
          if (d !== undefined) known.set(device, { ...d, online: false });
        }
        this.#schedule();
      }
    });
    this.#client.on("connect", () => this.#republish());
    await this.#client.subscribeAsync([`kiln/fleet/${this.#o.fleet ?? "+"}/+/reported`, statusTopic], {
      qos: 1,
    });
    this.#republish();
    this.#timer = setInterval(() => this.#schedule(), this.#o.tickMs ?? 1000);
  }

  /** Steps every rollout once now (after the step under way). */
  step(): Promise<void> {
    this.#running = this.#running.then(() => this.#stepAll()).catch((err) => {
      this.#log(`fleet: step failed: ${(err as Error).message}`);
    });
    return this.#running;
  }

  /** Keeps a report: in memory now, in the store at the next step (or now, past the pending bound). */
  #took(fleet: string, device: string, reported: ReportedState, atMs: number): void {
    this.#reports.set(`${fleet}/${device}`, { fleet, device, reported, at_ms: atMs });
    this.#devices.get(fleet)?.set(device, {
      fleet,
      id: device,
      groups: reported.groups,
      hardware: reported.hardware,
      last_seen_ms: atMs,
      online: true,
      reported,
    });
    if (this.#reports.size >= MAX_PENDING_REPORTS) this.#flushReports();
  }

  #flushReports(): void {
    if (this.#reports.size === 0) return;
    this.#store.putReportedMany(this.#reports.values());
    this.#reports.clear();
  }

  /** Steps soon: after the step under way, and no sooner than the gap after the last one. */
  #schedule(): void {
    if (this.#pending || this.#closed) return;
    this.#pending = true;
    const gap = Math.max(MIN_STEP_GAP_MS, 2 * this.#lastStepMs);
    const wait = Math.max(0, this.#lastStepEnd + gap - performance.now());
    this.#stepTimer = setTimeout(() => {
      this.#running = this.#running.then(() => {
        this.#pending = false;
        if (!this.#closed) this.#stepAll();
      }).catch((err) => {
        this.#log(`fleet: step failed: ${(err as Error).message}`);
      });
    }, wait);
  }

  #devicesOf(fleet: string): Map<string, KnownDevice> {
    let known = this.#devices.get(fleet);
    if (known === undefined) {
      known = new Map(this.#store.listDevices(fleet).map((d) => [d.id, d]));
      this.#devices.set(fleet, known);
    }
    return known;
  }

  #publishedOf(fleet: string): Map<string, DesiredState> {
    let published = this.#published.get(fleet);
    if (published === undefined) {
      published = this.#store.listPublished(fleet);
      this.#published.set(fleet, published);
    }
    return published;
  }

  #stepAll(): void {
    const started = performance.now();
    try {
      this.#flushReports();
      this.#stepRollouts();
    } finally {
      this.#lastStepEnd = performance.now();
      this.#lastStepMs = this.#lastStepEnd - started;
    }
  }

  #stepRollouts(): void {
    for (const rollout of this.#store.listRollouts()) {
      let members = this.#members.get(rollout.id);
      if (members === undefined) {
        members = this.#store.listMembers(rollout.id);
        this.#members.set(rollout.id, members);
      }
      const final = rollout.state === "rolled_back" || rollout.state === "aborted";
      if (
        (rollout.state === "completed" && members.every((m) => m.status !== "deployed")) ||
        (final && members.every((m) => m.status === "rolled_back"))
      ) {
        this.#members.delete(rollout.id); // finished: read again only if asked
        continue;
      }
      const published = this.#publishedOf(rollout.fleet);
      const nowMs = Date.now();
      const result = stepRollout({
        rollout,
        members,
        devices: [...this.#devicesOf(rollout.fleet).values()],
        published,
        nowMs,
        ...(this.#o.engine !== undefined && { options: this.#o.engine }),
      });
      if (!result.changed) continue;
      const written = this.#store.writeStep(
        { rollout: result.rollout, members: result.changedMembers, published: result.publish },
        rollout.revision,
        nowMs,
      );
      if (!written) continue; // An operator changed it meanwhile: the next tick steps the new state.
      this.#members.set(rollout.id, result.members);
      const r = result.rollout;
      if (r.state !== rollout.state || r.phase !== rollout.phase) {
        this.#log(
          `rollout ${r.id} (${r.module}): ${r.state}, phase ${r.phase + 1}/${r.phases.length}` +
            (r.reason === null ? "" : `: ${r.reason}`),
        );
      }
      for (const [device, doc] of result.publish) {
        published.set(device, doc);
        this.#publish(rollout.fleet, device, doc);
      }
    }
  }

  #republish(): void {
    for (const fleet of this.#store.listFleets()) {
      for (const [device, doc] of this.#store.listPublished(fleet)) this.#publish(fleet, device, doc);
    }
  }

  #publish(fleet: string, device: string, doc: DesiredState): void {
    if (this.#closed) return;
    this.#client.publish(`kiln/fleet/${fleet}/${device}/desired`, JSON.stringify(doc), {
      qos: 1,
      retain: true,
    }, (err) => {
      // Not lost: every stored document is published again at the next connect.
      if (err) this.#log(`fleet: publishing to ${device} failed: ${err.message}`);
    });
  }

  /** Stops stepping, waits for the step under way, disconnects and closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#stepTimer);
    await this.#running;
    this.#flushReports();
    await this.#client.endAsync();
    this.#store.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function isReported(r: unknown): r is ReportedState {
  if (r === null || typeof r !== "object") return false;
  const o = r as Record<string, unknown>;
  return typeof o.modules === "object" && o.modules !== null && Array.isArray(o.groups) &&
    Array.isArray(o.errors) && (o.hardware === null || typeof o.hardware === "string");
}
