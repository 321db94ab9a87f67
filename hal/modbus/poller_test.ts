import assert from "node:assert/strict";
import type { BitTable, ModbusClient, RegisterTable } from "./client.ts";
import { type ModbusDevice, ModbusDeviceSchema, type ModbusPoint, toModbusDevice } from "./config.ts";
import {
  ModbusConnectError,
  ModbusConnectionLostError,
  type ModbusError,
  ModbusExceptionError,
  ModbusNotConnectedError,
  ModbusTimeoutError,
} from "./errors.ts";
import { type Clock, createModbusConnector, planReads } from "./poller.ts";

/** Fake time: timers run only when the test advances the clock. */
class FakeClock implements Clock {
  nowMs = 1_000_000;
  #timers: { at: number; seq: number; callback: () => void }[] = [];
  #seq = 0;

  now(): number {
    return this.nowMs;
  }

  setTimer(callback: () => void, delayMs: number): () => void {
    const timer = { at: this.nowMs + delayMs, seq: this.#seq++, callback };
    this.#timers.push(timer);
    return () => this.#timers = this.#timers.filter((t) => t !== timer);
  }

  /** Runs every timer due within `ms`, in order, letting the promises each one starts settle. */
  async advance(ms: number): Promise<void> {
    const target = this.nowMs + ms;
    await settle();
    for (;;) {
      const next = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.nowMs = next.at;
      next.callback();
      await settle();
    }
    this.nowMs = target;
  }
}

/** Lets every pending promise reaction run (the fake client answers without I/O). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A device in memory: tables of 1000 entries, a log of requests, and switches for failures. */
class FakeClient implements ModbusClient {
  connected = false;
  /** Whether a connect succeeds. */
  reachable = true;
  /**
   * Makes a request fail with the error it returns (given the request's log line; `null`: it succeeds);
   * timeouts and protocol errors drop the link.
   */
  failure: ((what: string) => ModbusError | null) | null = null;
  readonly log: string[] = [];
  readonly registers = { hr: new Array<number>(1000).fill(0), ir: new Array<number>(1000).fill(0) };
  readonly bits = { co: new Array<boolean>(1000).fill(false), di: new Array<boolean>(1000).fill(false) };
  readonly #listeners = new Set<(cause: ModbusError) => void>();

  connect(): Promise<void> {
    this.log.push("connect");
    if (!this.reachable) return Promise.reject(new ModbusConnectError("plc1", "fake:502", "refused"));
    this.connected = true;
    return Promise.resolve();
  }
  readRegisters(table: RegisterTable, address: number, count: number): Promise<number[]> {
    return this.#request(
      `read ${table} ${address} ${count}`,
      () => this.registers[table].slice(address, address + count),
    );
  }
  readBits(table: BitTable, address: number, count: number): Promise<boolean[]> {
    return this.#request(
      `read ${table} ${address} ${count}`,
      () => this.bits[table].slice(address, address + count),
    );
  }
  writeRegisters(address: number, values: readonly number[]): Promise<void> {
    return this.#request(`write hr ${address} ${values.join(" ")}`, () => {
      values.forEach((v, i) => this.registers.hr[address + i] = v);
    });
  }
  writeCoils(address: number, values: readonly boolean[]): Promise<void> {
    return this.#request(`write co ${address} ${values.map(Number).join(" ")}`, () => {
      values.forEach((v, i) => this.bits.co[address + i] = v);
    });
  }
  close(): Promise<void> {
    this.connected = false;
    return Promise.resolve();
  }
  onDisconnect(listener: (cause: ModbusError) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  /** The device goes away: listeners hear `cause`. */
  drop(cause: ModbusError = new ModbusConnectionLostError("plc1", "fake:502")): void {
    this.connected = false;
    for (const listener of this.#listeners) listener(cause);
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #request<T>(what: string, answer: () => T): Promise<T> {
    if (!this.connected) return Promise.reject(new ModbusNotConnectedError("plc1", what));
    this.log.push(what);
    const err = this.failure?.(what);
    if (err) {
      if (!(err instanceof ModbusExceptionError)) this.drop(err);
      return Promise.reject(err);
    }
    return Promise.resolve(answer());
  }
}

function device(points: unknown[], over: Record<string, unknown> = {}): ModbusDevice {
  return toModbusDevice(
    "plc1",
    ModbusDeviceSchema.parse({ transport: "tcp", host: "fake", points, ...over }),
  );
}

function point(address: number, over: Partial<ModbusPoint> = {}): ModbusPoint {
  return {
    id: `p${address}`,
    table: "hr",
    address,
    type: "uint16",
    byteOrder: "big",
    wordOrder: "big",
    scale: 1,
    offset: 0,
    pollMs: 1000,
    staleMs: 3000,
    ...over,
  };
}

function setup(points: unknown[], over: Record<string, unknown> = {}) {
  const clock = new FakeClock();
  const client = new FakeClient();
  // The jitter's top (random() = 1): each delay is the whole doubling, so the times below are exact.
  const connector = createModbusConnector(device(points, over), { client, clock, random: () => 1 });
  return { clock, client, connector };
}

Deno.test("reads are planned per table and rate, merging adjacent points within the spec's limits", async (t) => {
  await t.step(
    "adjacent and overlapping points are one request; a gap starts another unless max_gap allows",
    () => {
      const points = [point(0, { type: "int16" }), point(1, { type: "float32" }), point(3), point(10)];
      const [group] = planReads(points);
      assert.deepEqual(group?.blocks.map((b) => [b.address, b.count, b.points.length]), [[0, 4, 3], [
        10,
        1,
        1,
      ]]);
      const [merged] = planReads(points, 6); // registers 4..9 are read too
      assert.deepEqual(merged?.blocks.map((b) => [b.address, b.count]), [[0, 11]]);
      assert.equal(planReads(points, 5)[0]?.blocks.length, 2);
    },
  );
  await t.step("at most 125 registers per read (§6.3), never splitting a 32-bit value", () => {
    const points = Array.from({ length: 123 }, (_, i) => point(i));
    points.push(point(123, { type: "float32" }), point(125, { type: "float32" }));
    const [group] = planReads(points);
    assert.deepEqual(group?.blocks.map((b) => [b.address, b.count]), [[0, 125], [125, 2]]);
  });
  await t.step("at most 2000 bits per read (§6.1)", () => {
    const coils = Array.from({ length: 2100 }, (_, i) => point(i, { table: "co", type: "bool" }));
    assert.deepEqual(planReads(coils)[0]?.blocks.map((b) => [b.address, b.count]), [[0, 2000], [2000, 100]]);
  });
  await t.step("another table or another rate is another group", () => {
    const groups = planReads([point(0), point(1, { pollMs: 100 }), point(2, { table: "ir" })]);
    assert.deepEqual(groups.map((g) => [g.table, g.pollMs, g.blocks.length]), [
      ["hr", 100, 1],
      ["hr", 1000, 1],
      ["ir", 1000, 1],
    ]);
  });
});

Deno.test("the connector reads coalesced blocks and delivers decoded, scaled samples", async () => {
  const { clock, client, connector } = setup([
    { id: "temp", table: "hr", address: 0, type: "int16", scale: 0.5, offset: 10 },
    { id: "flow", table: "hr", address: 1, type: "float32", word_order: "little" },
    { id: "pump", table: "co", address: 7 },
  ]);
  await using _ = connector;
  client.registers.hr.splice(0, 3, 0xfff6, 0x0000, 0x4144); // -10, then 12.25 low word first
  client.bits.co[7] = true;
  assert.equal(connector.status().state, "connecting");
  connector.start();
  await clock.advance(0);
  assert.deepEqual(client.log.toSorted(), ["connect", "read co 7 1", "read hr 0 3"]);
  assert.deepEqual(connector.getSample("temp"), { value: 5, quality: "good", atMs: clock.nowMs });
  assert.equal(connector.getSample("flow")?.value, 12.25);
  assert.equal(connector.getSample("pump")?.value, 1);
  assert.equal(connector.status().state, "connected");
  await clock.advance(1000);
  assert.equal(client.log.filter((l) => l === "read hr 0 3").length, 2, "polled again after poll_ms");
});

Deno.test("a value that cannot be read turns uncertain, then bad after stale_ms, keeping its value and time", async () => {
  const { clock, client, connector } = setup([{ id: "speed", table: "hr", address: 5, poll_ms: 100 }]);
  await using _ = connector;
  client.registers.hr[5] = 1480;
  connector.start();
  await clock.advance(0);
  const good = connector.getSample("speed")!;
  assert.equal(good.quality, "good");

  client.failure = () => new ModbusExceptionError("plc1", 3, 4, "read hr 5");
  await clock.advance(100);
  assert.deepEqual(connector.getSample("speed"), { ...good, quality: "uncertain" });
  await clock.advance(200); // 300 ms old: stale_ms defaults to 3 polls
  assert.equal(connector.getSample("speed")?.quality, "uncertain");
  await clock.advance(100);
  assert.deepEqual(connector.getSample("speed"), { ...good, quality: "bad" });
  assert.equal(connector.status().state, "error");

  client.failure = null;
  client.registers.hr[5] = 1490;
  await clock.advance(100);
  assert.deepEqual(connector.getSample("speed"), { value: 1490, quality: "good", atMs: clock.nowMs });
  assert.equal(connector.status().state, "connected");
});

Deno.test("a device that refuses one point is degraded, not in error: each point has its own state", async () => {
  const { clock, client, connector } = setup([
    { id: "speed", table: "hr", address: 5, poll_ms: 100 },
    { id: "missing", table: "hr", address: 900, poll_ms: 100 },
  ]);
  await using _ = connector;
  client.registers.hr[5] = 1480;
  assert.deepEqual(connector.status().points?.map((p) => p.state), ["waiting", "waiting"]);
  connector.start();
  const refuse = (line: string) =>
    line === "read hr 900 1" ? new ModbusExceptionError("plc1", 3, 2, "read hr 900") : null;
  client.failure = refuse;
  await clock.advance(0);
  const status = connector.status();
  assert.equal(status.state, "degraded");
  assert.deepEqual(status.points?.map((p) => [p.id, p.state]), [["speed", "ok"], ["missing", "refused"]]);
  assert.match(status.points?.[1]?.error ?? "", /exception 2/i);
  assert.equal(status.points?.[0]?.error, null);
  assert.equal(connector.getSample("speed")?.quality, "good", "the other point is served");
  assert.equal(connector.getSample("missing"), null);

  client.drop();
  assert.equal(connector.status().state, "reconnecting");
  assert.deepEqual(connector.status().points?.map((p) => p.state), ["waiting", "waiting"], "down: waiting");
});

Deno.test("reconnects back off exponentially up to max_backoff_ms, and reset after a successful read", async () => {
  const { clock, client, connector } = setup(
    [{ id: "speed", table: "hr", address: 5, poll_ms: 50 }],
    { backoff_ms: 250, max_backoff_ms: 2000 },
  );
  await using _ = connector;
  client.reachable = false;
  const attempts: number[] = [];
  const start = clock.nowMs;
  const record = () => {
    const count = client.log.filter((l) => l === "connect").length;
    while (attempts.length < count) attempts.push(clock.nowMs - start);
  };
  connector.start();
  record();
  for (let i = 0; i < 120; i++) {
    await clock.advance(50);
    record();
  }
  assert.deepEqual(attempts, [0, 250, 750, 1750, 3750, 5750]);
  assert.equal(connector.status().state, "reconnecting");
  assert.equal(connector.status().errors, 6);
  assert.equal(connector.getSample("speed"), null, "never read, so no value");
  assert.ok(!client.log.some((l) => l.startsWith("read")), "no reads while down");

  client.reachable = true;
  await clock.advance(2000);
  assert.equal(connector.status().state, "connected");
  assert.equal(connector.status().reconnects, 0, "the first connect is not a reconnect");
  assert.equal(connector.getSample("speed")?.quality, "good");

  const before = client.log.filter((l) => l === "connect").length;
  client.drop();
  assert.equal(connector.status().state, "reconnecting");
  await clock.advance(249);
  assert.equal(client.log.filter((l) => l === "connect").length, before);
  await clock.advance(1);
  assert.equal(client.log.filter((l) => l === "connect").length, before + 1, "backoff was reset to 250 ms");
  assert.equal(connector.status().reconnects, 1);
  assert.equal(connector.status().errors, 7);
  assert.match(connector.status().lastError ?? "", /was lost/);
});

Deno.test("an error that fails a read and drops the connection is counted once", async () => {
  const { clock, client, connector } = setup([{ id: "speed", table: "hr", address: 5, poll_ms: 100 }]);
  await using _ = connector;
  connector.start();
  await clock.advance(0);
  client.failure = () => new ModbusTimeoutError("plc1", 1000, "read hr 5");
  await clock.advance(100);
  assert.equal(connector.status().errors, 1);
  assert.equal(connector.status().state, "reconnecting");
  assert.match(connector.status().lastError ?? "", /timed out after 1000ms/);
});

Deno.test("writes are scaled, encoded and confirmed; they are refused, not queued, while the device is down", async () => {
  const { clock, client, connector } = setup([
    { id: "setpoint", table: "hr", address: 10, type: "int16", scale: 0.1 },
    { id: "limit", table: "hr", address: 20, type: "float32", word_order: "little" },
    { id: "valve", table: "co", address: 3 },
    { id: "level", table: "ir", address: 0 },
  ]);
  await using _ = connector;
  connector.start();
  await clock.advance(0);
  await connector.write("setpoint", -12.5);
  await connector.write("limit", 12.25);
  await connector.write("valve", 1);
  assert.deepEqual(client.log.filter((l) => l.startsWith("write")), [
    `write hr 10 ${0x10000 - 125}`,
    `write hr 20 0 ${0x4144}`,
    "write co 3 1",
  ]);
  await assert.rejects(connector.write("level", 1), TypeError);
  await assert.rejects(connector.write("valve", 0.5), RangeError);
  await assert.rejects(connector.write("setpoint", 1e6), RangeError);

  client.failure = () => new ModbusExceptionError("plc1", 6, 3, "write hr 10");
  await assert.rejects(connector.write("setpoint", 1), ModbusExceptionError);
  assert.equal(connector.status().errors, 1);
  client.failure = null;

  client.reachable = false;
  client.drop();
  const writes = client.log.length;
  await assert.rejects(connector.write("valve", 0), ModbusNotConnectedError);
  assert.equal(client.log.length, writes, "nothing was sent");
  assert.equal(connector.status().errors, 2, "the lost connection counts; the refused write does not");
});

Deno.test("a closed connector stops polling and reconnecting", async () => {
  const { clock, client, connector } = setup([{ id: "speed", table: "hr", address: 5, poll_ms: 100 }]);
  connector.start();
  await clock.advance(0);
  await connector.close();
  assert.equal(connector.status().state, "closed");
  const requests = client.log.length;
  await clock.advance(10_000);
  assert.equal(client.log.length, requests);
  await assert.rejects(connector.write("speed", 1), ModbusNotConnectedError);
});
