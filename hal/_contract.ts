/**
 * The behaviour every {@linkcode PointConnector} shares (`mod.ts`), as a test suite each driver's test runs
 * against a real peer of its own: `runPointConnectorContract("Modbus TCP", ...)` with the libmodbus server,
 * `runPointConnectorContract("OPC UA", ...)` with the node-opcua server. One test per driver, whose steps
 * share the peer.
 *
 * @module
 */
import assert from "node:assert/strict";
import { KilnError } from "../errors.ts";
import type { ConnectorStatus, PointConnector } from "./mod.ts";
import { settles, waitUntil } from "./_wait.ts";

/** A running peer, and connectors to it (or to where nothing listens) with points it serves or refuses. */
export interface PointConnectorHarness extends AsyncDisposable {
  /** The driver's kind, as a status names it: `modbus`, `opcua`. */
  readonly kind: string;
  /** The connectors' name, as a status names it: `plc1`. */
  readonly name: string;
  /** A point the peer serves and that modules may only read (writing it is a `TypeError`). */
  readonly readOnly: string;
  /** A writable point, and two different values the peer takes, written in turn and read back. */
  readonly writable: { readonly id: string; readonly values: readonly [number, number] };
  /** A point the peer refuses (a Modbus exception response, an OPC UA Bad status). */
  readonly refused: string;
  /**
   * A new connector, not started, with these points (among the three above), a short backoff, and a peer
   * that is up, or (`reachable: false`) an address nothing listens on.
   */
  connector(points: readonly string[], options?: { readonly reachable?: boolean }): PointConnector;
}

/** Registers the shared test of a driver; `create` starts its peer. */
export function runPointConnectorContract(name: string, create: () => Promise<PointConnectorHarness>): void {
  Deno.test(`${name} connector: keeps the PointConnector contract`, async (t) => {
    await using h = await create();
    const until = <T>(c: PointConnector, what: string, check: () => T) =>
      waitUntil(what, check, { describe: () => `status: ${JSON.stringify(c.status())}` });

    await t.step(
      "before it starts, its status names it, counts nothing and lists every point waiting",
      async () => {
        await using c = h.connector([h.readOnly, h.writable.id]);
        const s = c.status();
        assert.equal(c.name, h.name);
        assert.deepEqual(
          { name: s.name, kind: s.kind, state: s.state, lastError: s.lastError, errors: s.errors },
          { name: h.name, kind: h.kind, state: "connecting", lastError: null, errors: 0 },
        );
        assert.equal(s.reconnects, 0);
        assertReconnectFields(s);
        assert.deepEqual(s.points, [
          { id: h.readOnly, state: "waiting", error: null },
          { id: h.writable.id, state: "waiting", error: null },
        ]);
      },
    );

    await t.step(
      "no sample before a point's first value, then good samples for every point it serves",
      async () => {
        await using c = h.connector([h.readOnly, h.writable.id]);
        assert.equal(c.getSample(h.readOnly), null);
        assert.deepEqual([...c.listSamples()], []);
        c.start();
        await until(c, "every point's first value", () => [...c.listSamples()].length === 2);
        for (const id of [h.readOnly, h.writable.id]) {
          const sample = c.getSample(id);
          assert.ok(sample, id);
          assert.equal(sample.quality, "good", id);
          assert.ok(Number.isFinite(sample.value) && Number.isFinite(sample.atMs), id);
        }
        assert.deepEqual([...c.listSamples()].map(([id]) => id).sort(), [h.readOnly, h.writable.id].sort());
        assert.equal(c.getSample("no_such_point"), null);
        const s = c.status();
        assert.deepEqual([s.state, s.errors, s.lastError], ["connected", 0, null]);
        assert.deepEqual(s.points?.map((p) => p.state), ["ok", "ok"]);
      },
    );

    await t.step(
      "a write reaches the peer and is read back; an unknown or read-only point is refused",
      async () => {
        await using c = h.connector([h.readOnly, h.writable.id]);
        c.start();
        await until(c, "connected", () => c.status().state === "connected");
        for (const value of h.writable.values) {
          await c.write(h.writable.id, value);
          await until(c, `${value} read back`, () => c.getSample(h.writable.id)?.value === value);
        }
        await assert.rejects(c.write("no_such_point", 1), RangeError);
        await assert.rejects(c.write(h.readOnly, 1), TypeError);
        assert.equal(c.status().errors, 0, "a refused argument is no connector error");
      },
    );

    await t.step(
      "a point the peer refuses makes it degraded, that point refused without a sample",
      async () => {
        await using c = h.connector([h.readOnly, h.refused]);
        c.start();
        await until(c, "degraded", () => c.status().state === "degraded" && c.getSample(h.readOnly));
        await until(
          c,
          "the refusal",
          () => c.status().points?.find((p) => p.id === h.refused)?.state === "refused",
        );
        const [served, refused] = c.status().points ?? [];
        assert.deepEqual(served, { id: h.readOnly, state: "ok", error: null });
        assert.equal(typeof refused?.error, "string");
        assert.equal(c.getSample(h.refused), null);
        assert.equal(c.getSample(h.readOnly)?.quality, "good");
        assert.ok(c.status().errors >= 1);
        assert.equal(typeof c.status().lastError, "string");
      },
    );

    await t.step(
      "while the peer is unreachable it retries, has no sample, and refuses a write at once",
      async () => {
        await using c = h.connector([h.readOnly, h.writable.id], { reachable: false });
        c.start();
        await until(c, "failed attempts", () => c.status().errors >= 2);
        const s = c.status();
        assert.equal(s.state, "reconnecting");
        assert.equal(typeof s.lastError, "string");
        assert.ok((s.failures ?? 0) >= 1);
        assert.deepEqual(s.points?.map((p) => p.state), ["waiting", "waiting"]);
        assert.deepEqual([...c.listSamples()], []);
        await assertUnavailable(c.write(h.writable.id, h.writable.values[0]));
      },
    );

    await t.step(
      "close settles in every state, leaves it closed, and a write after it is refused",
      async () => {
        // Each is closed again on dispose too: a second close() is harmless, and an assertion that fails
        // before the first one leaves nothing running.
        await using idle = h.connector([h.readOnly]);
        await settles(idle.close(), "close() of a connector never started");
        assert.equal(idle.status().state, "closed");

        await using down = h.connector([h.readOnly], { reachable: false });
        down.start();
        await until(down, "a failed attempt", () => down.status().errors >= 1);
        await settles(down.close(), "close() while reconnecting");
        assert.equal(down.status().state, "closed");
        assert.equal(down.status().nextAttemptAtMs ?? null, null, "no attempt is left waiting");

        await using up = h.connector([h.readOnly, h.writable.id]);
        up.start();
        await until(up, "connected", () => up.status().state === "connected");
        await settles(up.close(), "close() while connected");
        assert.equal(up.status().state, "closed");
        await assertUnavailable(up.write(h.writable.id, h.writable.values[0]));
        await settles(up.close(), "a second close()");
      },
    );
  });
}

/** The status fields of a connector that reconnects, present and of their types. */
function assertReconnectFields(s: ConnectorStatus): void {
  assert.equal(typeof s.failures, "number");
  assert.equal(s.nextAttemptAtMs, null);
  assert.ok(typeof s.backoffMs === "number" && typeof s.maxBackoffMs === "number");
  assert.ok(s.maxBackoffMs >= s.backoffMs);
}

/** `write` rejects at once with the driver's "not connected" error: a Kiln error of kind `unavailable`. */
async function assertUnavailable(write: Promise<void>): Promise<void> {
  const err = await settles(write.then(() => null, (e: unknown) => e), "a write while down");
  assert.ok(err instanceof KilnError, String(err));
  assert.equal(err.kind, "unavailable");
}
