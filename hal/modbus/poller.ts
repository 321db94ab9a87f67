/**
 * The Modbus connector: polls a device's points at their rates on the modules' behalf, keeps the last
 * {@linkcode Sample} of each, carries out writes, and reconnects with backoff when the device goes away.
 *
 * Quality, so that modules never see an invented value:
 * - no sample until a point has been read once (`getSample` returns `null`);
 * - `good`: the latest read of the point succeeded;
 * - `uncertain`: the latest read failed (timeout, lost connection, exception, invalid response, or no
 *   connection at the poll time) but the last good value is at most the point's `stale_ms` old; OPC UA's
 *   "Uncertain_LastUsableValue" (Part 4 §7.34.2), so one lost reply does not trip an interlock;
 * - `bad`: reads have failed for longer than `stale_ms`.
 *
 * A failed read never changes `value` or `atMs`: they stay those of the last good read, so a module can
 * also see how old the value is.
 *
 * State (kept by the connection keeper every connector shares, `../keeper.ts`): `connecting` until the
 * first connect succeeds or fails; `connected`; `degraded` while connected but some reads get exception
 * responses (the device refuses those points' addresses: each point's state says which, `refused` with the
 * exception), `error` when every read does; `reconnecting` after a failed connect, a lost connection, a
 * timeout or an invalid response (the client drops the connection, so the byte stream is in step again);
 * `closed`. Reconnects wait by the keeper's jittered backoff from `backoff_ms` up to `max_backoff_ms`, back
 * to the start after a request succeeds (not after a connect: a device that accepts connections and then
 * answers garbage is retried at the slow rate). While down, polls do no I/O and count no errors; they only
 * age the samples. Every error is counted once, however many paths report it (a timeout fails the read and
 * drops the connection).
 *
 * @module
 */
import type { ConnectorStatus, PointConnector, PointStatus, Sample } from "../mod.ts";
import {
  type ConnectionKeeper,
  ConnectorTasks,
  type ConnectorTimingOptions,
  createKeeper,
} from "../keeper.ts";
import { MAX_READ_BITS, MAX_READ_REGISTERS, type ModbusClient } from "./client.ts";
import { applyScaling, decodeRegisters, encodeRegisters, registerCount, removeScaling } from "./codec.ts";
import type { ModbusDevice, ModbusPoint, ModbusTableName } from "./config.ts";
import { ModbusError, ModbusExceptionError, ModbusNotConnectedError } from "./errors.ts";
import { createRtuClient } from "./rtu.ts";
import { createTcpClient } from "./tcp.ts";

import { type Clock, SYSTEM_CLOCK } from "../mod.ts";
export { type Clock, SYSTEM_CLOCK };

/** One request of a poll: a run of points of one table read together. */
export interface ReadBlock {
  readonly table: ModbusTableName;
  readonly address: number;
  /** Registers or bits: at most 125 registers (§6.3, §6.4) or 2000 bits (§6.1, §6.2). */
  readonly count: number;
  readonly points: readonly ModbusPoint[];
}

/** The points of one table polled at one rate, as the requests that read them. */
export interface PollGroup {
  readonly table: ModbusTableName;
  readonly pollMs: number;
  readonly blocks: readonly ReadBlock[];
}

/**
 * Plans the reads of `points`: one group per table and poll rate, and in each group the points merged into
 * as few requests as the protocol's size limits allow, where at most `maxGap` unused registers (or bits)
 * lie between them.
 */
export function planReads(points: readonly ModbusPoint[], maxGap = 0): PollGroup[] {
  const byGroup = new Map<string, ModbusPoint[]>();
  for (const point of points) {
    const key = `${point.table}/${point.pollMs}`;
    byGroup.set(key, [...byGroup.get(key) ?? [], point]);
  }
  const groups: PollGroup[] = [];
  for (const members of byGroup.values()) {
    const first = members[0]!;
    const max = first.table === "co" || first.table === "di" ? MAX_READ_BITS : MAX_READ_REGISTERS;
    const sorted = [...members].sort((a, b) => a.address - b.address);
    const blocks: { address: number; end: number; points: ModbusPoint[] }[] = [];
    for (const point of sorted) {
      const end = point.address + registerCount(point.type) - 1;
      const last = blocks.at(-1);
      if (last && point.address <= last.end + 1 + maxGap && Math.max(last.end, end) - last.address < max) {
        last.end = Math.max(last.end, end);
        last.points.push(point);
      } else {
        blocks.push({ address: point.address, end, points: [point] });
      }
    }
    groups.push({
      table: first.table,
      pollMs: first.pollMs,
      blocks: blocks.map((b) => ({
        table: first.table,
        address: b.address,
        count: b.end - b.address + 1,
        points: b.points,
      })),
    });
  }
  return groups.sort((a, b) => a.pollMs - b.pollMs || a.table.localeCompare(b.table));
}

/** Options of {@linkcode createModbusConnector}. */
export interface ModbusConnectorOptions extends ConnectorTimingOptions {
  /** The transport. @default a Modbus TCP client for the device's host and port, or an RTU client on its serial line */
  readonly client?: ModbusClient;
}

/** A Modbus device's connector: it polls its points at their rates. */
export interface ModbusConnector extends PointConnector {
  /**
   * Writes an engineering value to a holding-register point (scaled back and encoded) or a coil point (0 or
   * 1). Resolves once the device confirmed the write; it is not queued while the device is down.
   *
   * @throws {RangeError} when there is no such point, or the value does not fit the point.
   * @throws {TypeError} when the point is an input register or discrete input (read-only).
   * @throws {ModbusError} when the write fails: not connected, timeout, exception response, ...
   */
  write(pointId: string, value: number): Promise<void>;
}

/**
 * Creates the connector of one device; nothing happens until {@linkcode ModbusConnector.start}.
 *
 * @example
 * ```ts ignore
 * import { createModbusConnector } from "./poller.ts";
 *
 * await using plc = createModbusConnector(device);
 * plc.start();
 * plc.getSample("oven_temp"); // null until the first read, then { value, quality, atMs }
 * ```
 */
export function createModbusConnector(
  device: ModbusDevice,
  options: ModbusConnectorOptions = {},
): ModbusConnector {
  return new Connector(device, options);
}

interface BlockState {
  readonly block: ReadBlock;
  /**
   * `refused`: the latest read got an exception response (the link is up but the device refuses these
   * addresses, `error` says how); `ok`: it succeeded; `waiting`: not read on this connection yet.
   */
  state: PointStatus["state"];
  error: string | null;
}

interface GroupState {
  readonly group: PollGroup;
  readonly blocks: BlockState[];
  dueMs: number;
  cancel: (() => void) | null;
  running: boolean;
}

class Connector implements ModbusConnector {
  readonly name: string;
  readonly #client: ModbusClient;
  readonly #clock: Clock;
  readonly #points: Map<string, ModbusPoint>;
  readonly #samples = new Map<string, Sample>();
  readonly #groups: GroupState[];
  readonly #tasks = new ConnectorTasks();
  readonly #keeper: ConnectionKeeper;
  #started = false;
  #closed = false;
  #connecting = false;
  #unsubscribe: () => void;

  constructor(device: ModbusDevice, options: ModbusConnectorOptions) {
    this.name = device.name;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#client = options.client ?? clientFor(device);
    this.#points = new Map(device.points.map((p) => [p.id, p]));
    this.#groups = planReads(device.points, device.maxGap).map((group) => ({
      group,
      blocks: group.blocks.map((block): BlockState => ({ block, state: "waiting", error: null })),
      dueMs: 0,
      cancel: null,
      running: false,
    }));
    this.#keeper = createKeeper(device, { kind: "modbus", clock: this.#clock, random: options.random });
    this.#unsubscribe = this.#client.onDisconnect((cause) => {
      this.#forEachBlock((b) => b.state = "waiting");
      this.#keeper.down(cause, () => this.#tasks.track(this.#connect()));
    });
  }

  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    const now = this.#clock.now();
    for (const state of this.#groups) this.#schedule(state, now + state.group.pollMs);
    this.#tasks.track(this.#connect());
  }

  status(): ConnectorStatus {
    return this.#keeper.status(this.#pointStatus());
  }

  /** Each point's state (its block's), in the manifest's order. */
  #pointStatus(): PointStatus[] {
    const byId = new Map<string, PointStatus>();
    this.#forEachBlock((b) => {
      const error = b.state === "refused" ? b.error : null;
      for (const p of b.block.points) byId.set(p.id, { id: p.id, state: b.state, error });
    });
    return [...this.#points.keys()].map((id) => byId.get(id)!);
  }

  #forEachBlock(f: (block: BlockState) => void): void {
    for (const group of this.#groups) for (const block of group.blocks) f(block);
  }

  getSample(pointId: string): Sample | null {
    return this.#samples.get(pointId) ?? null;
  }

  listSamples(): IterableIterator<[string, Sample]> {
    return new Map(this.#samples).entries();
  }

  async write(pointId: string, value: number): Promise<void> {
    const point = this.#points.get(pointId);
    if (!point) throw new RangeError(`Device "${this.name}" has no point "${pointId}"`);
    if (point.table === "ir" || point.table === "di") {
      throw new TypeError(`Cannot write point "${pointId}": ${point.table} is read-only`);
    }
    if (typeof value !== "number") throw new TypeError(`A value must be a number, got ${typeof value}`);
    const what = `write point "${pointId}"`;
    if (this.#closed) throw new ModbusNotConnectedError(this.name, what);
    try {
      if (point.table === "co") {
        if (value !== 0 && value !== 1) throw new RangeError(`A coil is 0 or 1, got ${value}`);
        await this.#client.writeCoils(point.address, [value === 1]);
      } else {
        const layout = { type: point.type === "bool" ? "uint16" : point.type, ...orders(point) } as const;
        const raw = removeScaling(value, point, point.type);
        await this.#client.writeRegisters(point.address, encodeRegisters(raw, layout));
      }
    } catch (err) {
      if (err instanceof ModbusError) this.#fail(err);
      throw err;
    }
    this.#keeper.worked();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#keeper.close();
    for (const state of this.#groups) {
      state.cancel?.();
      state.cancel = null;
    }
    await this.#client.close();
    await this.#tasks.settled();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #connect(): Promise<void> {
    if (this.#closed || this.#connecting || this.#client.connected) return;
    this.#connecting = true;
    try {
      await this.#client.connect();
    } catch (err) {
      this.#connecting = false;
      if (this.#closed) return;
      if (!(err instanceof ModbusError)) throw err;
      this.#keeper.down(err, () => this.#tasks.track(this.#connect()));
      return;
    }
    this.#connecting = false;
    if (this.#closed) return;
    this.#forEachBlock((b) => b.state = "waiting");
    this.#keeper.connected();
    // Poll at once rather than at each group's next tick, so fresh values replace stale ones quickly.
    const now = this.#clock.now();
    for (const state of this.#groups) if (!state.running) this.#schedule(state, now);
  }

  #schedule(state: GroupState, dueMs: number): void {
    state.cancel?.();
    state.dueMs = dueMs;
    state.cancel = this.#clock.setTimer(() => {
      state.cancel = null;
      this.#tasks.track(this.#poll(state));
    }, Math.max(0, dueMs - this.#clock.now()));
  }

  async #poll(state: GroupState): Promise<void> {
    if (this.#closed || state.running) return;
    state.running = true;
    try {
      for (const block of state.blocks) {
        if (this.#closed) return;
        await this.#read(block);
      }
    } finally {
      state.running = false;
    }
    if (this.#closed) return;
    // Keep the rate without drift; after an overrun, skip the missed ticks rather than catch up in a burst.
    const now = this.#clock.now();
    let next = state.dueMs + state.group.pollMs;
    if (next <= now) next = now + state.group.pollMs;
    this.#schedule(state, next);
  }

  async #read(state: BlockState): Promise<void> {
    const { block } = state;
    if (!this.#client.connected) {
      this.#degrade(block);
      return;
    }
    let values: readonly (number | boolean)[];
    try {
      values = block.table === "hr" || block.table === "ir"
        ? await this.#client.readRegisters(block.table, block.address, block.count)
        : await this.#client.readBits(block.table, block.address, block.count);
    } catch (err) {
      if (!(err instanceof ModbusError)) throw err;
      if (this.#closed) return;
      if (err instanceof ModbusExceptionError) {
        state.state = "refused";
        state.error = err.message;
      }
      this.#fail(err);
      this.#degrade(block);
      return;
    }
    state.state = "ok";
    state.error = null;
    this.#keeper.worked();
    const atMs = this.#clock.now();
    for (const point of block.points) {
      const at = point.address - block.address;
      let value: number;
      if (point.type === "bool") {
        value = values[at] ? 1 : 0;
      } else {
        const registers = values.slice(at, at + registerCount(point.type)) as number[];
        value = applyScaling(decodeRegisters(registers, { type: point.type, ...orders(point) }), point);
      }
      this.#samples.set(point.id, { value, quality: "good", atMs });
    }
  }

  /** Marks the block's points as not updated now: uncertain while fresh enough, then bad. */
  #degrade(block: ReadBlock): void {
    const now = this.#clock.now();
    for (const point of block.points) {
      const sample = this.#samples.get(point.id);
      if (!sample) continue;
      const quality = now - sample.atMs <= point.staleMs ? "uncertain" : "bad";
      if (quality !== sample.quality) this.#samples.set(point.id, { ...sample, quality });
    }
  }

  /** Counts an error once, however many paths report it; a refused request while down is not counted. */
  #fail(err: ModbusError): void {
    if (err instanceof ModbusNotConnectedError) return;
    this.#keeper.record(err);
  }
}

/** The client of a device's transport. */
function clientFor(device: ModbusDevice): ModbusClient {
  const common = { device: device.name, unitId: device.unitId, timeoutMs: device.timeoutMs };
  return device.transport === "rtu"
    ? createRtuClient({ ...common, line: device.serial })
    : createTcpClient({ ...common, host: device.host, port: device.port });
}

function orders(
  point: ModbusPoint,
): { byteOrder: ModbusPoint["byteOrder"]; wordOrder: ModbusPoint["wordOrder"] } {
  return { byteOrder: point.byteOrder, wordOrder: point.wordOrder };
}
