/**
 * The controller loop behind `kiln fleet run`: one MQTT connection (the `mqtt` package), the fleet store and
 * the engine. Every report (`kiln/fleet/+/+/reported`) is stored; presence (`kiln/+/status` by default)
 * marks devices offline; every rollout is stepped on each report and every `tickMs`; what a step decides is
 * written to the store first, then published retained (QoS 1) on the devices' own desired topics. At every
 * (re)connect every stored document is published again, so a controller stopped between the two resumes
 * where its store says, at any moment.
 *
 * @module
 */
import mqtt, { type MqttClient } from "mqtt";
import type { DesiredState, ReportedState } from "../runtime/fleet/protocol.ts";
import { type EngineOptions, stepRollout } from "./engine.ts";
import { FleetStore } from "./store.ts";

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
  #running: Promise<void> = Promise.resolve();
  #pending = false;
  #closed = false;

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
        try {
          const reported = JSON.parse(decoder.decode(payload)) as ReportedState;
          if (!isReported(reported)) return;
          this.#store.putReported(m[1]!, m[2]!, reported, Date.now());
        } catch {
          return; // Not JSON: a device's bug, not the controller's; its next report replaces it.
        }
        this.#schedule();
        return;
      }
      const parts = topic.split("/");
      if (deviceLevel >= 0 && parts.length === levels.length && decoder.decode(payload) === "offline") {
        this.#store.setOnline(parts[deviceLevel]!, false);
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

  #schedule(): void {
    if (this.#pending || this.#closed) return;
    this.#pending = true;
    this.#running = this.#running.then(() => {
      this.#pending = false;
      if (!this.#closed) this.#stepAll();
    }).catch((err) => {
      this.#log(`fleet: step failed: ${(err as Error).message}`);
    });
  }

  #stepAll(): void {
    const byFleet = new Map<string, Map<string, DesiredState>>();
    for (const rollout of this.#store.listRollouts()) {
      const members = this.#store.listMembers(rollout.id);
      if (rollout.state === "completed" && members.every((m) => m.status !== "deployed")) continue;
      const final = rollout.state === "rolled_back" || rollout.state === "aborted";
      if (final && members.every((m) => m.status === "rolled_back")) continue;
      let published = byFleet.get(rollout.fleet);
      if (published === undefined) {
        published = this.#store.listPublished(rollout.fleet);
        byFleet.set(rollout.fleet, published);
      }
      const nowMs = Date.now();
      const result = stepRollout({
        rollout,
        members,
        devices: this.#store.listDevices(rollout.fleet),
        published,
        nowMs,
        ...(this.#o.engine !== undefined && { options: this.#o.engine }),
      });
      if (!result.changed) continue;
      const written = this.#store.writeStep(
        { rollout: result.rollout, members: result.members, published: result.publish },
        rollout.revision,
        nowMs,
      );
      if (!written) continue; // An operator changed it meanwhile: the next tick steps the new state.
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
    await this.#running;
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
