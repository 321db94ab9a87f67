/**
 * The runtime's point connectors, the plant beyond the simulator: one per device of every point driver in the
 * registry (`hal/drivers.ts`; today Modbus devices, polled, and OPC UA endpoints, subscribed to). This file
 * makes and starts them, turns their samples into the executors' input image (`<kind>:<device>/<point>`,
 * read by modules with `kiln.input`), finds the connector an actuator writes through, and reports their
 * states.
 *
 * Modules never wait on the network: a driver polls or samples at each point's rate, this scan hands changed
 * samples to the executors, and a module reads the latest value, with its quality and age, at its next
 * invocation, like a PLC's scan cycle.
 *
 * @module
 */
import { devicesOf, POINT_DRIVERS, type PointDevices } from "../../hal/drivers.ts";
import type { ConnectorMaker, PlannedDevice, PointDriver } from "../../hal/point_driver.ts";
import type { ConnectorStatus, PointConnector, Sample } from "../../hal/mod.ts";
import type { InputValue } from "../executor/protocol.ts";

/** How often changed samples are handed to the executors, at most; a point's rate bounds it from below. */
const MIN_SCAN_MS = 10;
/** How often they are handed over at least, whatever the points' rates. */
const MAX_SCAN_MS = 100;

/** Options of {@linkcode Connectors}. */
export interface ConnectorsOptions {
  /** The devices by driver kind: the deployment plan's `<kind>` fields. */
  devices: Readonly<PointDevices>;
  /** Receives changed input values, keyed `<kind>:<device>/<point>`. */
  onInputs: (values: Record<string, InputValue>) => void;
  /** The drivers; tests give drivers of their own. @default POINT_DRIVERS */
  drivers?: readonly PointDriver[];
}

/** A driver whose client loads when the connectors start, and its devices. */
interface Deferred {
  readonly driver: PointDriver;
  readonly devices: readonly PlannedDevice[];
  load(): Promise<ConnectorMaker<PlannedDevice>>;
}

/** The plant's connectors, started and closed together. */
export class Connectors implements AsyncDisposable {
  /** By input prefix (`<kind>:<device>`), in the drivers' order and then the manifest's. */
  #connectors = new Map<string, PointConnector>();
  #deferred: Deferred[] = [];
  #onInputs: ConnectorsOptions["onInputs"];
  #last = new Map<string, Sample>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #scanMs: number;

  constructor(options: ConnectorsOptions) {
    this.#onInputs = options.onInputs;
    let fastest = Infinity;
    for (const driver of options.drivers ?? POINT_DRIVERS) {
      const devices = devicesOf(options.devices, driver);
      if (devices.length === 0) continue;
      for (const d of devices) fastest = Math.min(fastest, driver.fastestMs(d));
      const source = driver.connectors;
      if ("create" in source) this.#add(driver, devices, source);
      else this.#deferred.push({ driver, devices, load: () => source.load() });
    }
    this.#scanMs = Math.max(
      MIN_SCAN_MS,
      Number.isFinite(fastest) ? Math.min(fastest, MAX_SCAN_MS) : MAX_SCAN_MS,
    );
  }

  #add(driver: PointDriver, devices: readonly PlannedDevice[], maker: ConnectorMaker<PlannedDevice>): void {
    for (const d of devices) this.#connectors.set(`${driver.kind}:${d.name}`, maker.create(d));
  }

  /**
   * Starts every connector, and the scan that hands their samples to modules. A driver whose client loads
   * on demand (OPC UA's asks for the host name as it loads) is loaded here, and only when it has devices.
   */
  async start(): Promise<void> {
    for (const { driver, devices, load } of this.#deferred.splice(0)) {
      const maker = await load();
      if (this.#closed) return; // closed while it loaded: nothing to start, or to close later
      this.#add(driver, devices, maker);
    }
    for (const c of this.#connectors.values()) c.start();
    if (this.#connectors.size > 0) this.#timer = setInterval(() => this.#scan(), this.#scanMs);
  }

  #scan(): void {
    const changed = Object.create(null) as Record<string, InputValue>;
    for (const [prefix, c] of this.#connectors) {
      for (const [point, s] of c.listSamples()) {
        const key = `${prefix}/${point}`;
        const last = this.#last.get(key);
        if (last && last.value === s.value && last.quality === s.quality && last.atMs === s.atMs) continue;
        this.#last.set(key, s);
        changed[key] = { value: s.value, quality: s.quality, atMs: s.atMs }; // both epoch ms
      }
    }
    if (Object.keys(changed).length > 0) this.#onInputs(changed);
  }

  /** The connector of an actuator or input prefix (`<kind>:<device>`), or null. */
  driver(prefix: string): PointConnector | null {
    return this.#connectors.get(prefix) ?? null;
  }

  /** Every connector's state, last error and counters. */
  list(): ConnectorStatus[] {
    return [...this.#connectors.values()].map((c) => c.status());
  }

  #closed: Promise<void> | null = null;

  /** Stops the scan and closes every connector; calling it again returns the same promise. */
  close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#closed ??= Promise.all([...this.#connectors.values()].map((c) => c.close())).then(() => {});
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
