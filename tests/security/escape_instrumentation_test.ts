/**
 * Hostile modules of the `instrumentation` class: code that reaches, or tries to reach, the state the
 * instrumenter adds (its countdown and fuel globals, its `kiln.__check` import, its exports). The original
 * binary names an index it does not declare, which only becomes valid once the instrumenter appends its own,
 * so it must be refused at deploy before any rewrite, with the validation failure named. Each case runs beside
 * the harness's healthy neighbours ({@linkcode runHostile}); the ones that would loop forever run in both
 * executors.
 */
import { InstrumentConflictError, WasmInvalidError } from "../../runtime/wasm/mod.ts";
import { fixture, refusedFor, runHostile, testInBothExecutors } from "./_harness.ts";

/** Refused as invalid WebAssembly (validated before instrumentation), V8's reason naming `what`. */
const invalid = (what: RegExp) =>
  refusedFor(new RegExp(`not valid WebAssembly: .*${what.source}`), WasmInvalidError);

testInBothExecutors(
  "escape[instrumentation]: a handler writing a global index past the module's own (the countdown's) is refused at deploy",
  async (priority) =>
    runHostile({
      priority,
      bytes: await fixture("escape_global_reset_tick"),
      plan: { budgetUs: 2_000 },
      expect: invalid(/Invalid global index: 1\b/),
      timeoutMs: 5_000,
    }),
);

testInBothExecutors(
  "escape[instrumentation]: kiln_init writing a global index past the module's own is refused at deploy",
  async (priority) =>
    runHostile({
      priority,
      bytes: await fixture("escape_global_reset_init"),
      plan: { budgetUs: 2_000 },
      expect: invalid(/Invalid global index: 1\b/),
      timeoutMs: 5_000,
    }),
);

testInBothExecutors(
  "escape[instrumentation]: a start function writing a global index past the module's own is refused at deploy",
  async (priority) =>
    runHostile({
      priority,
      bytes: await fixture("escape_global_reset_start"),
      plan: { budgetUs: 2_000 },
      expect: invalid(/Invalid global index: 1\b/),
      timeoutMs: 5_000,
    }),
);

Deno.test("escape[instrumentation]: a module declaring no globals that writes global 0 is refused at deploy", async () => {
  await runHostile({
    bytes: await fixture("escape_no_globals"),
    plan: { budgetUs: 2_000 },
    expect: invalid(/Invalid global index: 0\b/),
    timeoutMs: 5_000,
  });
});

Deno.test("escape[instrumentation]: code refilling the fuel counter's index (global 1 of none) is refused at deploy", async () => {
  await runHostile({
    bytes: await fixture("escape_fuel_refill"),
    plan: { budgetUs: 2_000, fuel: 100_000 },
    expect: invalid(/Invalid global index: 0\b/),
    timeoutMs: 5_000,
  });
});

Deno.test("escape[instrumentation]: a handler reading a global index past the module's own is refused at deploy", async () => {
  await runHostile({
    bytes: await fixture("escape_global_read_past_own"),
    expect: invalid(/Invalid global index: 1\b/),
  });
});

Deno.test("escape[instrumentation]: a global initialised from a global index past the module's own is refused at deploy", async () => {
  await runHostile({
    bytes: await fixture("escape_global_init_past_own"),
    // The decoder checks constant expressions itself, or V8 refuses them when it validates.
    expect: refusedFor(
      /global 0 reads global 1, which does not exist|not valid WebAssembly: .*global index: 1\b/,
    ),
  });
});

Deno.test("escape[instrumentation]: a call to a function index past the module's own is refused at deploy", async () => {
  await runHostile({
    bytes: await fixture("escape_call_past_own"),
    expect: invalid(/function index #2 is out of bounds/),
  });
});

Deno.test("escape[instrumentation]: importing a global named after the instrumenter's countdown is refused, naming the import", async () => {
  await runHostile({
    bytes: await fixture("escape_import_global_countdown"),
    expect: refusedFor(/^import "kiln\.__kiln_countdown": /),
  });
});

Deno.test("escape[instrumentation]: importing a global under a host function's name (kiln.log) is refused, naming the import", async () => {
  await runHostile({
    bytes: await fixture("escape_import_global_as_function"),
    expect: refusedFor(/^import "kiln\.log": must be a function/),
  });
});

Deno.test("escape[instrumentation]: importing a global from the WASI namespace is refused, naming the import", async () => {
  await runHostile({
    bytes: await fixture("escape_import_global_wasi"),
    expect: refusedFor(/^import "wasi_snapshot_preview1\.fd_write": must be a function/),
  });
});

Deno.test("escape[instrumentation]: exporting a decoy under the countdown's export name (__kiln_countdown) is refused", async () => {
  await runHostile({
    bytes: await fixture("escape_export_countdown"),
    expect: refusedFor(/exports "__kiln_countdown", which the instrumenter adds/, InstrumentConflictError),
  });
});
