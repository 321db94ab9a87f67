/**
 * The behaviour every {@linkcode ModbusClient} shares (`client.ts`), as a test suite each transport's test
 * runs against a device of its own: `runModbusContract("TCP", ...)`, `runModbusContract("RTU", ...)`. The
 * device is the libmodbus server of `tests/hal/_modbus_server.ts`, whose tables hold 0..99 with these
 * values among others: `hr` 1 = 54321, `ir` 0..1 = 1000, -50; coils 0..5 = 1 0 0 1 0 0; discrete inputs
 * 0..3 = 0 1 0 1. One test per transport, whose steps share the device.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ModbusClient } from "./client.ts";
import {
  ModbusConnectError,
  ModbusConnectionLostError,
  type ModbusError,
  ModbusExceptionError,
  ModbusNotConnectedError,
  ModbusTimeoutError,
} from "./errors.ts";
import { settles } from "../_wait.ts";

/** A running device, and clients to it or to where no device is. */
export interface ModbusClientHarness extends AsyncDisposable {
  /** The device's name the clients give their errors. */
  readonly device: string;
  /** A new client of the device, not connected. @default timeoutMs 1000 */
  client(options?: { readonly timeoutMs?: number }): ModbusClient;
  /** A new client of a device that is not there: its connect fails. */
  unreachable(): ModbusClient;
  /** Freezes the device (SIGSTOP): requests go unanswered. */
  pause(): void;
  /** Lets it run again. */
  resume(): void;
}

/** `hr` 1 of the device, which the steps read. */
const SPEED = 54321;

/**
 * A request the device is frozen for asks for another number of registers than the reads after it: the
 * device answers it once it runs again, and an RTU line has no transaction id to tell that late answer from
 * the answer to a later request of the same shape, so only a different shape makes it noise (skipped).
 */
const unanswered = (client: ModbusClient, count: number) => client.readRegisters("hr", 1, count);

/** Registers the shared test of a transport; `create` starts its device. */
export function runModbusContract(name: string, create: () => Promise<ModbusClientHarness>): void {
  Deno.test(`Modbus ${name} client: keeps the ModbusClient contract`, async (t) => {
    await using h = await create();

    await t.step("connects, says so, and a second connect resolves at once", async () => {
      await using client = h.client();
      assert.equal(client.connected, false);
      await client.connect();
      assert.equal(client.connected, true);
      await client.connect();
      assert.equal(client.connected, true);
    });

    await t.step("a device it cannot reach is a ModbusConnectError, and it stays disconnected", async () => {
      await using client = h.unreachable();
      const err = await client.connect().then(() => null, (e: unknown) => e);
      assert.ok(err instanceof ModbusConnectError, String(err));
      assert.equal(err.code, "modbus_connect_failed");
      assert.equal(client.connected, false);
      await assert.rejects(client.readRegisters("hr", 1, 1), ModbusNotConnectedError);
    });

    await t.step("reads holding and input registers, coils and discrete inputs", async () => {
      await using client = h.client();
      await client.connect();
      assert.deepEqual(await client.readRegisters("hr", 1, 1), [SPEED]);
      assert.deepEqual(await client.readRegisters("ir", 0, 2), [1000, 65_536 - 50]);
      assert.deepEqual(await client.readBits("co", 0, 6), [true, false, false, true, false, false]);
      assert.deepEqual(await client.readBits("di", 0, 4), [false, true, false, true]);
      await assert.rejects(async () => await client.readRegisters("hr", 0, 126), RangeError);
      await assert.rejects(async () => await client.readBits("co", 65_535, 2), RangeError);
    });

    await t.step("writes one and several registers and coils, read back", async () => {
      await using client = h.client();
      await client.connect();
      await client.writeRegisters(40, [1234]);
      await client.writeRegisters(41, [1, 65_535]);
      assert.deepEqual(await client.readRegisters("hr", 40, 3), [1234, 1, 65_535]);
      await client.writeCoils(40, [true]);
      await client.writeCoils(41, [true, false, true]);
      assert.deepEqual(await client.readBits("co", 40, 4), [true, true, false, true]);
      await assert.rejects(async () => await client.writeRegisters(40, [65_536]), RangeError);
    });

    await t.step(
      "an exception response is a ModbusExceptionError with its codes, and keeps the connection",
      async () => {
        await using client = h.client();
        const lost: ModbusError[] = [];
        client.onDisconnect((cause) => lost.push(cause));
        await client.connect();
        for (
          const [request, functionCode] of [
            [() => client.readRegisters("hr", 99, 2), 3],
            [() => client.readBits("co", 150, 1), 1],
            [() => client.writeRegisters(150, [1]), 6],
            [() => client.writeCoils(150, [true, false]), 15],
          ] as const
        ) {
          const err = await (request() as Promise<unknown>).then(() => null, (e: unknown) => e);
          assert.ok(err instanceof ModbusExceptionError, String(err));
          assert.equal(err.code, "modbus_exception");
          assert.equal(err.functionCode, functionCode);
          assert.equal(err.exceptionCode, 2, "illegal data address: the tables end at 99");
          assert.equal(err.device, h.device);
          assert.equal(client.connected, true, "an exception response keeps the connection");
        }
        assert.deepEqual(await client.readRegisters("hr", 1, 1), [SPEED]);
        assert.deepEqual(lost, []);
      },
    );

    await t.step(
      "a request left unanswered times out, drops the connection and tells the listeners",
      async () => {
        await using client = h.client({ timeoutMs: 200 });
        const lost: ModbusError[] = [];
        client.onDisconnect((cause) => lost.push(cause));
        await client.connect();
        h.pause();
        try {
          const err = await unanswered(client, 2).then(() => null, (e: unknown) => e);
          assert.ok(err instanceof ModbusTimeoutError, String(err));
          assert.equal(err.timeoutMs, 200);
          assert.equal(client.connected, false, "a connection out of step is dropped");
          assert.deepEqual(lost, [err]);
          await assert.rejects(client.readRegisters("hr", 1, 1), ModbusNotConnectedError);
        } finally {
          h.resume();
        }
        // The next connection starts clean: the late answer to the held request is noise to it.
        await client.connect();
        assert.deepEqual(await client.readRegisters("hr", 1, 1), [SPEED]);
      },
    );

    await t.step(
      "close rejects the request in flight, tells no listener, and it may connect again",
      async () => {
        await using client = h.client({ timeoutMs: 60_000 });
        const lost: ModbusError[] = [];
        client.onDisconnect((cause) => lost.push(cause));
        await client.connect();
        h.pause();
        try {
          const pending = unanswered(client, 3).then(() => null, (e: unknown) => e);
          // The request is on its way: past the queue and an RTU line's inter-frame silence (not a measure).
          await new Promise((resolve) => setTimeout(resolve, 200));
          await settles(client.close(), "close() with a request in flight");
          const err = await settles(pending, "the request in flight");
          assert.ok(err instanceof ModbusConnectionLostError, String(err));
          assert.equal(client.connected, false);
          assert.deepEqual(lost, [], "a close asked for is no lost connection");
        } finally {
          h.resume();
        }
        await assert.rejects(client.readRegisters("hr", 1, 1), ModbusNotConnectedError);
        await client.connect();
        assert.deepEqual(await client.readRegisters("hr", 1, 1), [SPEED]);
        await settles(client.close(), "close()");
        await settles(client.close(), "a second close()");
        await using never = h.client();
        await settles(never.close(), "close() of a client never connected");
      },
    );
  });
}
