import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { AuditLog, openStore, StoreError, StoreVersionError } from "./mod.ts";
import { migrations } from "./_migrations.ts";

Deno.test("a new store is migrated to the latest schema in WAL mode", async () => {
  const dir = await Deno.makeTempDir();
  using store = openStore(`${dir}/kiln.db`);
  assert.equal(store.version, migrations().length);
  const mode = store.db.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
  assert.equal(mode.journal_mode, "wal");
});

Deno.test("a store written by a newer Kiln is refused with both versions named", async () => {
  const dir = await Deno.makeTempDir();
  const db = new DatabaseSync(`${dir}/kiln.db`);
  db.exec("PRAGMA user_version = 99");
  db.close();
  assert.throws(
    () => openStore(`${dir}/kiln.db`),
    (err: unknown) =>
      err instanceof StoreVersionError && err.found === 99 && err.supported === migrations().length,
  );
});

Deno.test("a store from an older Kiln is upgraded and keeps its rows", async () => {
  const dir = await Deno.makeTempDir();
  const db = new DatabaseSync(`${dir}/kiln.db`);
  db.exec(migrations()[0]!.sql);
  db.exec("PRAGMA user_version = 1");
  db.exec(
    "INSERT INTO audit_events (at, module, kind, capability) VALUES ('2026-01-01T00:00:00Z', 'm', 'grant', 'read:sim:x')",
  );
  db.close();
  using store = openStore(`${dir}/kiln.db`);
  assert.equal(store.version, migrations().length);
  const rows = store.db.prepare("SELECT module FROM audit_events").all() as { module: string }[];
  assert.deepEqual(rows.map((r) => r.module), ["m"]);
  assert.equal((store.db.prepare("SELECT count(*) AS n FROM snapshots").get() as { n: number }).n, 0);
});

Deno.test("a file that is not a database is refused with a store error", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/kiln.db`, "this is not sqlite ".repeat(100));
  assert.throws(() => openStore(`${dir}/kiln.db`), (err: unknown) => err instanceof StoreError);
});

Deno.test("the audit log records grants and denials and counts uses per capability", async () => {
  const dir = await Deno.makeTempDir();
  using store = openStore(`${dir}/kiln.db`);
  const audit = new AuditLog(store);
  audit.record([
    { module: "m", kind: "grant", capability: "read:gpio:pin_3", detail: null },
    { module: "m", kind: "denial", capability: "read:gpio:pin_4", detail: "gpio_read(4)" },
    { module: "m", kind: "denial", capability: "read:gpio:pin_4", detail: "gpio_read(4)" },
    { module: "other", kind: "grant", capability: "read:sim:x", detail: null },
  ]);
  audit.addUses("m", { "read:gpio:pin_3": 5 });
  audit.addUses("m", { "read:gpio:pin_3": 2 });
  assert.equal(audit.listEvents().length, 4);
  const denials = audit.listEvents({ module: "m", kind: "denial" });
  assert.equal(denials.length, 2);
  assert.equal(denials[0]!.detail, "gpio_read(4)");
  assert.equal(audit.listEvents({ after: denials[0]!.id, module: "m" }).length, 1);
  const uses = audit.listUses("m");
  assert.deepEqual(uses.map((u) => [u.capability, u.uses, u.denials]), [
    ["read:gpio:pin_3", 7, 0],
    ["read:gpio:pin_4", 0, 2],
  ]);
});

Deno.test("a read-only store reads what a writer committed", async () => {
  const dir = await Deno.makeTempDir();
  using writer = openStore(`${dir}/kiln.db`);
  new AuditLog(writer).record([{ module: "m", kind: "grant", capability: "read:sim:x", detail: null }]);
  using reader = openStore(`${dir}/kiln.db`, { readOnly: true });
  assert.equal(new AuditLog(reader).listEvents().length, 1);
});
