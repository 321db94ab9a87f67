import assert from "node:assert/strict";
import { AuditLog, type DenialRecord, SUPPRESSED_CAPABILITY } from "./audit.ts";
import { openStore, type Store } from "./store.ts";

async function tempStore(): Promise<Store> {
  const dir = await Deno.makeTempDir({ prefix: "kiln-audit-" });
  return openStore(`${dir}/kiln.db`);
}

const denial = (module: string, pin: number, count = 1): DenialRecord => ({
  module,
  capability: `read:gpio:pin_${pin}`,
  detail: `gpio_read(${pin})`,
  count,
});
const at = (ms: number) => new Date(Date.UTC(2025, 0, 1) + ms);
const rowsPerMin = () => 3;

/** Every denial of `module` counted in `capability_use`. */
function counted(audit: AuditLog, module: string): number {
  return audit.listUses(module).reduce((n, u) => n + u.denials, 0);
}

Deno.test("a module's denials take at most its rows a minute; the rest become one summary row when the minute ends", async (t) => {
  using store = await tempStore();
  const audit = new AuditLog(store);
  let total = 0;

  await t.step("rows up to the limit, then counts", () => {
    const events = [1, 2, 3, 4, 5, 6].map((pin) => denial("flood", pin, pin));
    total += events.reduce((n, e) => n + e.count, 0);
    const out = audit.recordDenials(events, { rowsPerMin, at: at(0) });
    assert.deepEqual(out.written.map((d) => d.detail), ["gpio_read(1)", "gpio_read(2)", "gpio_read(3)"]);
    assert.equal(out.suppressed.get("flood"), 4 + 5 + 6);
    assert.deepEqual(audit.listEvents({ module: "flood" }).map((e) => e.detail), [
      "gpio_read(1)",
      "gpio_read(2) x2",
      "gpio_read(3) x3",
    ]);
    assert.equal(audit.pendingSuppressed("flood"), 15);
  });

  await t.step("folded denials from the executor are counted, never rows", () => {
    const folded = { module: "flood", capability: "*", detail: "suppressed", count: 100, suppressed: true };
    total += 100;
    const out = audit.recordDenials([folded, denial("other", 1)], { rowsPerMin, at: at(30_000) });
    assert.deepEqual(out.written.map((d) => d.module), ["other"], "another module has rows of its own");
    assert.equal(audit.listEvents({ module: "flood" }).length, 3);
    assert.equal(audit.pendingSuppressed("flood"), 115);
  });

  await t.step("the minute's end writes one summary row, and the counts add up exactly", () => {
    assert.deepEqual(audit.flushSuppressed({ at: at(59_999) }), [], "not before the minute ends");
    assert.deepEqual(audit.flushSuppressed({ at: at(60_000) }), [{ module: "flood", count: 115 }]);
    const rows = audit.listEvents({ module: "flood" });
    assert.equal(rows.length, 4);
    assert.equal(rows[3]!.capability, SUPPRESSED_CAPABILITY);
    assert.equal(rows[3]!.detail, "115 more denials by flood suppressed");
    assert.equal(counted(audit, "flood"), total);
    assert.equal(audit.pendingSuppressed("flood"), 0);
  });

  await t.step("a new minute has rows again, and nothing left to summarise writes nothing", () => {
    const out = audit.recordDenials([denial("flood", 7)], { rowsPerMin, at: at(61_000) });
    assert.equal(out.written.length, 1);
    assert.deepEqual(audit.flushSuppressed({ at: at(200_000) }), []);
    assert.equal(audit.listEvents({ module: "flood" }).length, 5);
  });
});

Deno.test("a flood of distinct denials adds a bounded number of rows however long it lasts", async () => {
  using store = await tempStore();
  const audit = new AuditLog(store, { windowMs: 1000 });
  let pin = 0;
  for (let ms = 0; ms < 10_000; ms += 100) {
    const events = Array.from({ length: 50 }, () => denial("flood", pin++));
    audit.recordDenials(events, { rowsPerMin, at: at(ms) });
  }
  audit.flushSuppressed({ at: at(10_000), all: true });
  const rows = audit.listEvents({ module: "flood", limit: 10_000 });
  assert.ok(rows.length <= 10 * (3 + 1), `${rows.length} rows for 10 windows of 3 rows and a summary`);
  assert.equal(counted(audit, "flood"), pin, "every denial is counted");
  assert.ok(audit.listUses("flood").length <= 10 * 3 + 1, "and the per-capability counts stay bounded too");
});

Deno.test("an audit log refuses a window that is not a positive number of ms", async () => {
  using store = await tempStore();
  assert.throws(() => new AuditLog(store, { windowMs: 0 }), RangeError);
  assert.throws(() => new AuditLog(store, { windowMs: Number.NaN }), RangeError);
});
