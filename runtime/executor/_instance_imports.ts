/**
 * How an instance links its host imports: the `kiln` ones by grant (`host_kiln.ts`) and WASI's
 * (`host_wasi.ts`), each behind the budget's gate (`host_guard.ts`), then handed to the instance's tap (a
 * recorder or a replayer, `runtime/record/`) when it has one. Private to `runtime/executor/`.
 *
 * @module
 */
import { createKilnImports, type KilnHost } from "./host_kiln.ts";
import { createWasiImports, WasiErrno } from "./host_wasi.ts";
import { guardImports } from "./host_guard.ts";
import { HOST_IMPORTS, Status } from "../abi.ts";
import { CHECK_IMPORT } from "../wasm/constants.ts";
import type { CallBudget } from "./budget.ts";
import type { ModuleAccount } from "./account.ts";
import type { InstanceSink } from "./host_kiln.ts";
import type { InstanceStats } from "./protocol.ts";
// Type only: the worker loads no file outside runtime/executor/ (tests/runtime/worker_imports_test.ts).
import type { CallTap } from "../record/tap.ts";

type Imports = Record<string, (...args: never[]) => unknown>;
const encoder = new TextEncoder();
const CHECK_EXEMPT: ReadonlySet<string> = new Set([CHECK_IMPORT.name]);

/** What a `kiln` import returns when it refuses to work past the deadline: by its result type. */
function kilnRefusal(name: string): unknown {
  switch (HOST_IMPORTS[name]?.results[0]) {
    case "i64":
      return 0n;
    case "f64":
      return Number.NaN;
    default:
      return Status.ELIMIT;
  }
}

/** The `kiln` imports, linked by grant, gated by `budget`, seen by `tap`. */
export function linkKilnImports(
  options: KilnHost,
  link: { budget: CallBudget; tap: CallTap | null; memory: () => WebAssembly.Memory | null },
): Imports {
  const guarded = guardImports(createKilnImports(options), link.budget, {
    refusal: kilnRefusal,
    exempt: CHECK_EXEMPT,
  });
  return link.tap === null ? guarded : link.tap.wrap("kiln", guarded, link.memory);
}

/** What {@linkcode linkWasiImports} needs of the instance. */
export interface WasiLink {
  name: string;
  stats: InstanceStats;
  sink: InstanceSink;
  account: ModuleAccount;
  budget: CallBudget;
  tap: CallTap | null;
  memory: () => WebAssembly.Memory | null;
}

/** `wasi_snapshot_preview1`: stdout and stderr go to the module's log; files and sockets are refused. */
export function linkWasiImports(o: WasiLink): Imports {
  const imports = createWasiImports({
    memory: () => {
      const memory = o.memory();
      if (!memory) throw new Error("WASI call before the module's memory is known");
      return memory;
    },
    log: (stream, text) => {
      if (!o.account.allowLog(encoder.encode(text).length)) {
        o.stats.logsDropped++;
        return;
      }
      o.sink.log({
        module: o.name,
        level: stream === "stdout" ? "info" : "warn",
        message: text,
        at: Date.now(),
      });
    },
    denied: (call, detail) => {
      // Folded by the account like a `kiln` denial: at most so many distinct ones a minute.
      const d = o.account.denial(`wasi:${call}`, detail);
      o.sink.denied(o.name, d.capability, d.detail);
    },
    monotonicNs: () => BigInt(Math.round(performance.now() * 1e6)),
    realtimeNs: () => BigInt(Date.now()) * 1_000_000n,
  });
  const guarded = guardImports(imports, o.budget, { refusal: () => WasiErrno.INTR });
  return o.tap === null ? guarded : o.tap.wrap("wasi", guarded, o.memory);
}
