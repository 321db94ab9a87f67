/**
 * Flooding: hostile modules that need no capability (or one harmless grant) and try to make the host keep
 * more and more on their behalf: a new output key every call, a new array every call, messages as fast as
 * they can, a refused call on a new topic or pin every time, log lines and alerts as fast as they can. Each
 * is throttled by its resource account (its calls get `KILN_ELIMIT`, counted by kind in `throttled`), the
 * state the host holds for it stays bounded (keys in its status, audit rows, outbox bytes), and the
 * neighbours keep running (the harness checks them, `/health`, the API and the process's memory).
 *
 * The modules are inline WAT, one behaviour each: every call makes a new name from a counter (`$hex8`
 * writes it as 8 hex digits) and the last call's result is the output "rc".
 */
import assert from "node:assert/strict";
import { createRuntime, type ModulePlan, type ModuleStatus } from "../../runtime/mod.ts";
import { AuditLog, createOutbox, openStore } from "../../snapshots/mod.ts";
import {
  deploymentPlan,
  modulePlan,
  mqttPlan,
  streamModuleWat,
  waitFor,
  wat,
  writeFixture,
} from "../_helpers.ts";
import { runHostile, testInBothExecutors } from "./_harness.ts";

const ELIMIT = -4;
const EDENIED = -3;
/** A budget no flood reaches even on a loaded machine: these cases test the account, not the CPU budget. */
const FLOOD: Partial<ModulePlan> = { budgetUs: 1_000_000 };
/** The defaults the module's status must show (`runtime/executor/account.ts`). */
const DEFAULTS = {
  maxOutputKeys: 256,
  maxArrayKeys: 32,
  maxArrayBytes: 256 * 1024,
  maxPublishTopics: 32,
  auditRowsPerMin: 20,
};

/** Writes `$v` as 8 lowercase hex digits at `$p`. */
const HEX8 = `
  (func $hex8 (param $p i32) (param $v i32)
    (local $i i32) (local $d i32)
    (local.set $i (i32.const 7))
    (loop $next
      (local.set $d (i32.and (local.get $v) (i32.const 15)))
      (i32.store8 (i32.add (local.get $p) (local.get $i))
        (i32.add (local.get $d) (select (i32.const 48) (i32.const 87) (i32.lt_u (local.get $d) (i32.const 10)))))
      (local.set $v (i32.shr_u (local.get $v) (i32.const 4)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $next (i32.ge_s (local.get $i) (i32.const 0)))))`;

/**
 * A periodic module that runs `body` `perTick` times a tick, with the global `$n` counting every call
 * since start; `body` sets the local `$rc`, which is output as "rc" after the loop.
 */
function flooder(options: { imports: string; data: string; body: string; perTick: number }): Uint8Array {
  return wat(`(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  ${options.imports}
  (memory (export "memory") 2)
  (global $n (mut i32) (i32.const 0))
  (data (i32.const 0) "rc")
  ${options.data}
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  ${HEX8}
  (func (export "kiln_on_tick") (param i64) (result i32)
    (local $i i32)
    (local $rc i32)
    (loop $more
      ${options.body}
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const ${options.perTick}))))
    (drop (call $output (i32.const 0) (i32.const 2) (f64.convert_i32_s (local.get $rc))))
    (i32.const 0)))`);
}

const PUBLISH = `(import "kiln" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))`;

/** Common checks: the module runs on, unfaulted, and got ELIMIT. */
function throttledAndRunning(m: ModuleStatus): void {
  assert.equal(m.state, "running");
  assert.equal(m.restarts, 0);
  assert.equal(m.last_fault, null);
  assert.equal(m.outputs.rc, ELIMIT, "the call over the limit returned ELIMIT");
}

testInBothExecutors(
  "flood: a new output key every call is throttled at max_output_keys",
  async (priority) => {
    await runHostile({
      priority,
      plan: FLOOD,
      // "k" then 8 hex digits at 16.
      bytes: flooder({
        imports: "",
        data: `(data (i32.const 16) "k")`,
        body: `(call $hex8 (i32.const 17) (global.get $n))
        (local.set $rc (call $output (i32.const 16) (i32.const 9) (f64.const 1)))`,
        perTick: 64,
      }),
      expect: {
        until: (m) => m.throttled.outputs > 2000 && m.outputs.rc === ELIMIT,
        check: (m, rt) => {
          throttledAndRunning(m);
          assert.equal(
            Object.keys(m.outputs).length,
            DEFAULTS.maxOutputKeys,
            "its status holds the limit's keys",
          );
          assert.equal(m.account.held.output_keys, DEFAULTS.maxOutputKeys);
          assert.equal(m.account.limits.max_output_keys, DEFAULTS.maxOutputKeys);
          assert.equal(Object.keys(rt.getModule("hostile")!.outputs).length, DEFAULTS.maxOutputKeys);
        },
      },
    });
  },
);

testInBothExecutors(
  "flood: a new array key every call is throttled at max_array_keys and max_array_bytes",
  async (priority) => {
    await runHostile({
      priority,
      plan: FLOOD,
      // "a" then 8 hex digits at 16; 2048 values (8 KiB) from 4096.
      bytes: flooder({
        imports: `(import "kiln" "output_array" (func $array (param i32 i32 i32 i32) (result i32)))`,
        data: `(data (i32.const 16) "a")`,
        body: `(call $hex8 (i32.const 17) (global.get $n))
        (local.set $rc (call $array (i32.const 16) (i32.const 9) (i32.const 4096) (i32.const 2048)))`,
        perTick: 16,
      }),
      expect: {
        until: (m) => m.throttled.arrays > 500 && m.outputs.rc === ELIMIT,
        check: (m, rt) => {
          throttledAndRunning(m);
          assert.ok(m.account.held.array_keys <= DEFAULTS.maxArrayKeys);
          assert.ok(m.account.held.array_bytes <= DEFAULTS.maxArrayBytes);
          const arrays = rt.getModuleArrays("hostile")!;
          assert.ok(Object.keys(arrays).length <= DEFAULTS.maxArrayKeys);
          const values = Object.values(arrays).reduce((n, a) => n + a.length, 0);
          assert.ok(values * 4 <= DEFAULTS.maxArrayBytes, `${values * 4} bytes of arrays held`);
        },
      },
    });
  },
);

testInBothExecutors(
  "flood: publishing as fast as it can on a granted topic is throttled at publish_per_s",
  async (priority) => {
    await runHostile({
      priority,
      plan: { ...FLOOD, capabilities: ["write:mqtt:plant/#"] },
      // "plant/x" at 16, a 1 KiB payload from 1024.
      bytes: flooder({
        imports: PUBLISH,
        data: `(data (i32.const 16) "plant/x")`,
        body:
          `(local.set $rc (call $publish (i32.const 16) (i32.const 7) (i32.const 1024) (i32.const 1024)))`,
        perTick: 100,
      }),
      expect: {
        until: (m) => m.throttled.publish > 2000 && m.outputs.rc === ELIMIT,
        check: (m, rt) => {
          throttledAndRunning(m);
          assert.equal(m.account.held.topics, 1);
          assert.ok(rt.listMessages().length <= 500, "the journal keeps its last 500 messages");
        },
      },
    });
  },
);

testInBothExecutors(
  "flood: a new granted topic every call is throttled at max_publish_topics",
  async (priority) => {
    await runHostile({
      priority,
      plan: { ...FLOOD, capabilities: ["write:mqtt:plant/#"] },
      // "plant/" then 8 hex digits at 16.
      bytes: flooder({
        imports: PUBLISH,
        data: `(data (i32.const 16) "plant/") (data (i32.const 1024) "x")`,
        body: `(call $hex8 (i32.const 22) (global.get $n))
        (local.set $rc (call $publish (i32.const 16) (i32.const 14) (i32.const 1024) (i32.const 1)))`,
        perTick: 20,
      }),
      expect: {
        until: (m) => m.throttled.publish > 500 && m.outputs.rc === ELIMIT,
        check: (m, rt) => {
          throttledAndRunning(m);
          assert.equal(m.account.held.topics, DEFAULTS.maxPublishTopics);
          const topics = new Set(rt.listMessages().filter((x) => x.module === "hostile").map((x) => x.topic));
          assert.ok(topics.size <= DEFAULTS.maxPublishTopics, `${topics.size} topics published on`);
        },
      },
    });
  },
);

testInBothExecutors(
  "flood: a refused publish on a new topic every call adds at most audit_rows_per_min rows, every denial counted",
  async (priority) => {
    await runHostile({
      priority,
      plan: { ...FLOOD, capabilities: ["write:mqtt:plant/#"] },
      // "deny/" then 8 hex digits at 16: outside the grant.
      bytes: flooder({
        imports: PUBLISH,
        data: `(data (i32.const 16) "deny/") (data (i32.const 1024) "x")`,
        body: `(call $hex8 (i32.const 21) (global.get $n))
        (local.set $rc (call $publish (i32.const 16) (i32.const 13) (i32.const 1024) (i32.const 1)))`,
        perTick: 100,
      }),
      expect: {
        until: (m) => m.denials > 5000 && m.throttled.audit > 0,
        check: (_, rt, audit) => {
          // Read together, in one turn: the runtime takes reports in between awaits only.
          const m = rt.getModule("hostile")!;
          const rows = audit.listEvents({ module: "hostile", kind: "denial", limit: 10_000 });
          const counted = audit.listUses("hostile").reduce((n, u) => n + u.denials, 0);
          const pending = audit.pendingSuppressed("hostile");
          assert.equal(m.state, "running");
          assert.equal(m.outputs.rc, EDENIED);
          // A case lasts under a minute: one window, its rows, and perhaps the summary of an earlier one.
          assert.ok(rows.length <= DEFAULTS.auditRowsPerMin + 1, `${rows.length} audit rows`);
          assert.equal(counted + pending, m.denials, "every denial is counted, in a row or for a summary");
          // The executor folds all but the first distinct denials of its minute; the runtime writes the rows.
          assert.ok(m.throttled.audit >= m.denials - 2 * DEFAULTS.auditRowsPerMin);
        },
      },
    });
  },
);

Deno.test("flood: a refused read of every GPIO pin adds at most audit_rows_per_min rows", async () => {
  await runHostile({
    plan: { ...FLOOD, capabilities: ["read:gpio:pin_0"] },
    bytes: flooder({
      imports: `(import "kiln" "gpio_read" (func $read (param i32) (result i32)))`,
      data: "",
      body: `(local.set $rc (call $read (i32.add (i32.const 1)
        (i32.rem_u (global.get $n) (i32.const 1023)))))`,
      perTick: 50,
    }),
    expect: {
      until: (m) => m.denials > 3000,
      check: (_, rt, audit) => {
        const m = rt.getModule("hostile")!;
        const rows = audit.listEvents({ module: "hostile", kind: "denial", limit: 10_000 });
        const counted = audit.listUses("hostile").reduce((n, u) => n + u.denials, 0);
        assert.ok(rows.length <= DEFAULTS.auditRowsPerMin + 1, `${rows.length} audit rows`);
        assert.ok(
          audit.listUses("hostile").length <= DEFAULTS.auditRowsPerMin + 2,
          "capability counts bounded",
        );
        assert.equal(counted + audit.pendingSuppressed("hostile"), m.denials);
      },
    },
  });
});

testInBothExecutors(
  "flood: logging 1 KiB lines as fast as it can is throttled by lines and bytes a second",
  async (priority) => {
    await runHostile({
      priority,
      plan: FLOOD,
      bytes: flooder({
        imports: `(import "kiln" "log" (func $log (param i32 i32 i32) (result i32)))`,
        data: "",
        // 1024 bytes of zeros at 4096: text the host escapes, one line each.
        body: `(local.set $rc (call $log (i32.const 1) (i32.const 4096) (i32.const 1024)))`,
        perTick: 200,
      }),
      expect: {
        until: (m) => m.throttled.logs > 5000 && m.outputs.rc === ELIMIT,
        check: (m, rt) => {
          throttledAndRunning(m);
          assert.ok(m.logs_dropped >= m.throttled.logs);
          const logs = rt.getModuleLogs("hostile")!;
          assert.ok(logs.length <= 200, `${logs.length} lines kept`);
          assert.ok(logs.every((l) => l.message.length <= 1024));
        },
      },
    });
  },
);

testInBothExecutors(
  "flood: WASI stdout lines as fast as it can are throttled like kiln.log",
  async (priority) => {
    // fd_write(1, iovs at 64: [{ 4096, 4001 }], 1, nwritten at 96); a 4000-byte line and its newline.
    await runHostile({
      priority,
      plan: FLOOD,
      bytes: flooder({
        imports: `(import "wasi_snapshot_preview1" "fd_write"
        (func $fd_write (param i32 i32 i32 i32) (result i32)))`,
        data: `(data (i32.const 64) "\\00\\10\\00\\00\\a1\\0f\\00\\00") (data (i32.const 8096) "\\0a")`,
        body: `(drop (call $fd_write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 96)))
        (local.set $rc (i32.const ${ELIMIT}))`,
        perTick: 50,
      }),
      expect: {
        // Refused by the executor's account, or by the runtime's for the bytes: counted either way.
        until: (m) => m.throttled.logs > 100 && m.invocations > 20,
        check: (m, rt) => {
          assert.equal(m.state, "running");
          assert.ok(m.logs_dropped >= m.throttled.logs);
          assert.equal(m.restarts, 0);
          const logs = rt.getModuleLogs("hostile")!;
          assert.ok(logs.length <= 200, `${logs.length} lines kept`);
          assert.ok(logs.every((l) => l.message.length <= 4096));
        },
      },
    });
  },
);

Deno.test("flood: raising alerts as fast as it can is throttled at alerts_per_s", async () => {
  await runHostile({
    plan: FLOOD,
    bytes: flooder({
      imports: `(import "kiln" "alert" (func $alert (param i32 i32 i32) (result i32)))`,
      data: `(data (i32.const 16) "fire")`,
      body: `(local.set $rc (call $alert (i32.const 2) (i32.const 16) (i32.const 4)))`,
      perTick: 50,
    }),
    expect: {
      until: (m) => m.throttled.alerts > 2000 && m.outputs.rc === ELIMIT,
      check: (m, rt) => {
        throttledAndRunning(m);
        assert.ok(rt.listAlerts().length <= 1000);
      },
    },
  });
});

// ---- the outbox: a module's share of it, with the broker away ---------------------------------------------

/** A TCP port nothing listens on (bound, then closed). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("flood: with the broker away, a publishing module holds at most its share of the outbox, and its neighbour's messages still go in", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-flood-" });
  try {
    using store = openStore(`${dir}/kiln.db`);
    // A quarter of it, the default share, is a few seconds of the default publish rate of 4 KiB messages.
    const diskBudgetBytes = 256 * 1024;
    const outbox = createOutbox(store, { diskBudgetBytes });
    const mqtt = mqttPlan({
      url: `mqtt://127.0.0.1:${closedPort()}`,
      clientId: "kiln-flood",
      backoffMs: 500,
      maxBackoffMs: 30_000,
      outbox: { diskBudgetBytes, drainRatePerS: 100 },
    });
    const tick = { mode: "periodic" as const, periodUs: 5_000, priority: 50 };
    const hostile = await writeFixture(
      dir,
      "hostile.wasm",
      flooder({
        imports: PUBLISH,
        data: `(data (i32.const 16) "plant/flood")`,
        // 4 KiB payloads of zeros: not UTF-8 text, so base64 in their envelope.
        body:
          `(local.set $rc (call $publish (i32.const 16) (i32.const 11) (i32.const 4096) (i32.const 4096)))`,
        perTick: 10,
      }),
    );
    const neighbour = await writeFixture(
      dir,
      "neighbour.wasm",
      flooder({
        imports: PUBLISH,
        data: `(data (i32.const 16) "plant/good") (data (i32.const 1024) "ok")`,
        body: `(local.set $rc (call $publish (i32.const 16) (i32.const 10) (i32.const 1024) (i32.const 2)))`,
        perTick: 1,
      }),
    );
    await using rt = await createRuntime({
      plan: {
        ...deploymentPlan([
          modulePlan({ name: "n_stream", wasm: await writeFixture(dir, "s.wasm", wat(streamModuleWat())) }),
          modulePlan({
            name: "hostile",
            wasm: hostile,
            schedule: tick,
            ...FLOOD,
            capabilities: ["write:mqtt:plant/#"],
          }),
          modulePlan({
            name: "good",
            wasm: neighbour,
            schedule: { ...tick, periodUs: 100_000 },
            capabilities: ["write:mqtt:plant/#"],
          }),
        ]),
        mqtt,
      },
      version: "flood",
      log: () => {},
      audit: new AuditLog(store),
      outbox,
    });
    await rt.start();
    const share = Math.floor(0.25 * diskBudgetBytes);
    await waitFor("the share to fill", () => rt.getModule("hostile")!.throttled.outbox > 50, 20_000)
      .catch((err) => {
        throw new Error(`${err.message}: ${JSON.stringify(rt.getModule("hostile"))}`);
      });
    const goodBefore = outbox.ownerBytes("good");
    await waitFor("the neighbour's messages to keep going in", () => outbox.ownerBytes("good") > goodBefore);
    const m = rt.getModule("hostile")!;
    assert.equal(m.state, "running");
    assert.ok(outbox.ownerBytes("hostile") <= share, `${outbox.ownerBytes("hostile")} bytes held`);
    assert.ok(outbox.ownerBytes("hostile") > share / 2, "it did fill its share");
    assert.ok(outbox.stats().sizeBytes <= diskBudgetBytes);
    assert.equal(outbox.stats().kinds.telemetry.dropped, 0, "nobody's telemetry was dropped to make room");
    const good = rt.getModule("good")!;
    assert.equal(good.throttled.outbox, 0);
    assert.equal(good.state, "running");
    assert.equal(rt.getModule("n_stream")!.restarts, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
