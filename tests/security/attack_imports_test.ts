/**
 * The attack suite (see `_attack.ts`): imports and exports a module may not have, refused at deploy naming the import;
 * and a manifest asking for the filesystem.
 */
import assert from "node:assert/strict";
import { ManifestError, parseManifest } from "../../runtime/manifest/mod.ts";
import { InstrumentConflictError } from "../../runtime/wasm/mod.ts";
import { fixture, refusedFor, runHostile } from "./_harness.ts";

// ---- forbidden imports: refused at deploy, naming the import -------------------------------------------

Deno.test("attack: an import from an unknown namespace (env.open) is refused", async () => {
  await runHostile({
    bytes: await fixture("import_env_open"),
    expect: refusedFor(/^import "env\.open": unknown import namespace "env"/),
  });
});

Deno.test("attack: a socket-like import (env.socket) is refused", async () => {
  await runHostile({
    bytes: await fixture("import_env_socket"),
    expect: refusedFor(/^import "env\.socket": unknown import namespace "env"/),
  });
});

Deno.test("attack: an unknown kiln import (kiln.open_file) is refused", async () => {
  await runHostile({
    bytes: await fixture("import_kiln_open_file"),
    expect: refusedFor(/^import "kiln\.open_file": the host has no function "open_file" in ABI v1/),
  });
});

Deno.test("attack: kiln.log imported with a wrong signature is refused", async () => {
  await runHostile({
    bytes: await fixture("import_log_wrong_signature"),
    expect: refusedFor(
      /^import "kiln\.log": has signature \(i32\) -> i32, ABI v1 declares \(i32, i32, i32\) -> i32/,
    ),
  });
});

Deno.test("attack: an imported memory is refused", async () => {
  await runHostile({
    bytes: await fixture("import_memory"),
    expect: refusedFor(/^import "kiln\.memory": modules must define and export their own memory/),
  });
});

Deno.test("attack: an imported table is refused", async () => {
  await runHostile({
    bytes: await fixture("import_table"),
    expect: refusedFor(/^import "env\.table": unknown import namespace "env"/),
  });
});

Deno.test("attack: an imported global is refused", async () => {
  await runHostile({
    bytes: await fixture("import_global"),
    expect: refusedFor(/^import "env\.shared_counter": unknown import namespace "env"/),
  });
});

Deno.test("attack: kiln.gpio_write without a write:gpio grant is refused, naming the capability it needs", async () => {
  await runHostile({
    bytes: await fixture("import_gpio_write_ungranted"),
    plan: { capabilities: ["read:gpio:pin_3"] },
    expect: refusedFor(/^import "kiln\.gpio_write" needs a capability "write:gpio:<resource>"/),
  });
});

Deno.test("attack: a filesystem capability (read:fs:/etc/passwd) in a manifest is refused on its path", () => {
  const text = `version: 1
device: { id: gw-1 }
policy:
  allow: [read:sim:*]
connectors:
  sim:
    vibration_1: { kind: vibration, rate_hz: 25600 }
modules:
  fft:
    wasm: fft.wasm
    capabilities: [read:sim:vibration_1, read:fs:/etc/passwd]
    schedule: { mode: stream, source: sim:vibration_1 }
`;
  const err = (() => {
    try {
      parseManifest(text);
    } catch (e) {
      return e;
    }
    assert.fail("the manifest was accepted");
  })();
  assert.ok(err instanceof ManifestError, `expected a ManifestError, got ${err}`);
  assert.equal(err.code, "manifest_invalid");
  const issue = err.issues.find((i) => i.path === "modules.fft.capabilities[1]");
  assert.ok(issue, err.message);
  assert.match(issue.message, /read:fs:\/etc\/passwd/);
  assert.match(issue.message, /filesystem/);
});

Deno.test("attack: importing the instrumenter's own hook (kiln.__check) is refused", async () => {
  await runHostile({
    bytes: await fixture("import_kiln_check"),
    expect: refusedFor(/^import "kiln\.__check": the host has no function "__check" in ABI v1/),
  });
});

Deno.test("attack: exporting a fake fuel counter (__kiln_fuel) is refused", async () => {
  await runHostile({
    bytes: await fixture("export_kiln_fuel"),
    plan: { fuel: 100_000 },
    expect: refusedFor(/already exports "__kiln_fuel", which the instrumenter adds/, InstrumentConflictError),
  });
});
