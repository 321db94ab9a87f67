/**
 * The runtime's connectors to the plant beyond the simulator: today Modbus devices, polled by their
 * drivers in `hal/`. This file starts them, turns their samples into the executors' input image
 * (`modbus:<device>/<point>`, read by modules with `kiln.input`), and reports their states.
 *
 * Modules never wait on the network: a driver polls at each point's `poll_ms`, this scan hands changed
 * samples to the executors, and a module reads the latest value, with its quality and age, at its next
 * invocation, like a PLC's scan cycle.
 *
 * @module
 */
import { createModbusConnector, type ModbusConnector, type ModbusDevice } from "../../hal/modbus/mod.ts";
import type { OpcuaConnector } from "../../hal/opcua/mod.ts";
import type { OpcuaEndpoint } from "../../hal/opcua/manifest.ts";
import type { ConnectorStatus, PointConnector, Sample } from "../../hal/mod.ts";
import type { InputValue } from "../executor/protocol.ts";

/** How often changed samples are handed to the executors, at most; a point's `poll_ms` bounds it from below. */
const MIN_SCAN_MS = 10;

/** Options of {@linkcode Connectors}. */
export interface ConnectorsOptions {
  modbus: readonly ModbusDevice[];
  opcua: readonly OpcuaEndpoint[];
  /** Receives changed input values, keyed `modbus:<device>/<point>` or `opcua:<endpoint>/<node>`. */
  onInputs: (values: Record<string, InputValue>) => void;
  /** Makes a device's connector; tests give a client of their own. @default createModbusConnector */
  createModbus?: (device: ModbusDevice) => ModbusConnector;
}

/** The plant's connectors, started and closed together. */
export class Connectors implements AsyncDisposable {
  #modbus = new Map<string, ModbusConnector>();
  #opcua = new Map<string, OpcuaConnector>();
  #opcuaEndpoints: readonly OpcuaEndpoint[];
  #onInputs: ConnectorsOptions["onInputs"];
  #last = new Map<string, Sample>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #scanMs: number;

  constructor(options: ConnectorsOptions) {
    const create = options.createModbus ?? ((d: ModbusDevice) => createModbusConnector(d));
    for (const d of options.modbus) this.#modbus.set(d.name, create(d));
    this.#opcuaEndpoints = options.opcua;
    this.#onInputs = options.onInputs;
    const fastest = Math.min(
      ...options.modbus.flatMap((d) => d.points.map((p) => p.pollMs)),
      ...options.opcua.flatMap((e) => e.nodes.map((n) => n.samplingMs)),
    );
    this.#scanMs = Math.max(MIN_SCAN_MS, Number.isFinite(fastest) ? Math.min(fastest, 100) : 100);
  }

  /**
   * Starts every driver, and the scan that hands their samples to modules. The OPC UA client is loaded here,
   * and only when there are endpoints: it asks for the host name as it loads.
   */
  async start(): Promise<void> {
    if (this.#opcuaEndpoints.length > 0 && this.#opcua.size === 0) {
      // A computed specifier: `deno bundle` leaves it alone (node-opcua does not bundle), and it resolves
      // from the source tree or from `dist/` beside it.
      const driver = "../hal/opcua/mod.ts";
      const { createOpcuaConnector } = await import(driver) as typeof import("../../hal/opcua/mod.ts");
      for (const e of this.#opcuaEndpoints) this.#opcua.set(e.name, createOpcuaConnector(e));
    }
    for (const [, c] of this.#drivers()) c.start();
    if (this.#modbus.size + this.#opcua.size > 0) this.#timer = setInterval(() => this.#scan(), this.#scanMs);
  }

  #scan(): void {
    const changed = Object.create(null) as Record<string, InputValue>;
    for (const [prefix, c] of this.#drivers()) {
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

  /** Every driver with its input prefix (`modbus:plc1`, `opcua:line1`). */
  *#drivers(): Iterable<[string, PointConnector]> {
    for (const [name, c] of this.#modbus) yield [`modbus:${name}`, c];
    for (const [name, c] of this.#opcua) yield [`opcua:${name}`, c];
  }

  /** The driver of an actuator or input prefix (`modbus:plc1`), or null. */
  driver(prefix: string): PointConnector | null {
    const [kind, name = ""] = prefix.split(":");
    return (kind === "modbus"
      ? this.#modbus.get(name)
      : kind === "opcua"
      ? this.#opcua.get(name)
      : undefined) ??
      null;
  }

  /** Every connector's state, last error and counters. */
  list(): ConnectorStatus[] {
    return [...this.#drivers()].map(([, c]) => c.status());
  }

  #closed: Promise<void> | null = null;

  /** Stops the scan and closes every driver; calling it again returns the same promise. */
  close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#closed ??= Promise.all([...this.#drivers()].map(([, c]) => c.close())).then(() => {});
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
