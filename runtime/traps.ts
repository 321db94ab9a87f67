/**
 * Module faults as data: the error an interrupted or failed call throws, and how a trap V8 raised is told
 * apart (its kind, and the Wasm function that was running).
 *
 * @module
 */
import { WasiExit } from "./host_wasi.ts";
import type { ModuleFault, TrapKind } from "./_protocol.ts";

/** A trap or failure of a module, carrying its fault as data. */
export class ModuleTrap extends Error {
  constructor(readonly fault: ModuleFault) {
    super(fault.message);
    this.name = "ModuleTrap";
  }
}

const TRAP_PATTERNS: [RegExp, TrapKind][] = [
  [/unreachable/i, "unreachable"],
  [/out of bounds|out-of-bounds/i, "out_of_bounds"],
  [/divide by zero|division by zero|remainder by zero/i, "divide_by_zero"],
  [/integer overflow|divide result unrepresentable/i, "integer_overflow"],
  [/float unrepresentable|invalid conversion|convert/i, "invalid_conversion"],
  [/call stack|stack overflow/i, "stack_overflow"],
  [/signature mismatch|null function|indirect call|table index/i, "indirect_call"],
];

/**
 * Turns what a Wasm call threw into a fault: the trap kind from V8's `RuntimeError`, and the Wasm
 * function from the first `wasm://` stack frame. A non-Wasm exception is a host error.
 */
export function classifyTrap(err: unknown, entry: string, names: Record<number, string> = {}): ModuleFault {
  if (err instanceof ModuleTrap) {
    if (err.fault.function !== null) return err.fault;
    // An interrupt thrown by a host function: name the Wasm function it interrupted.
    const fn = wasmFunctionOf(err, names) ?? entry;
    return { ...err.fault, function: fn, message: `${err.fault.message} in ${fn}` };
  }
  if (err instanceof WasiExit) {
    return {
      kind: "proc_exit",
      function: entry,
      message: `the module called proc_exit(${err.exitCode}) in ${entry}`,
    };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  const isWasmTrap = e instanceof WebAssembly.RuntimeError ||
    (e instanceof RangeError && /call stack/i.test(e.message));
  let kind: TrapKind = "host_error";
  if (isWasmTrap) {
    kind = TRAP_PATTERNS.find(([re]) => re.test(e.message))?.[1] ?? "trap";
  } else if (e instanceof WebAssembly.LinkError || e instanceof WebAssembly.CompileError) {
    kind = "init_failed";
  }
  const fn = wasmFunctionOf(e, names) ?? entry;
  return { kind, function: fn, message: `${kind.replaceAll("_", " ")} in ${fn}: ${e.message}` };
}

/**
 * The innermost Wasm function in V8's stack trace: `at name (wasm://wasm/<hash>:wasm-function[N]:0x..)`.
 * V8 prints `<anonymous>` when the binary has no name section; the index then names it through `names`.
 */
function wasmFunctionOf(e: Error, names: Record<number, string>): string | null {
  for (const line of (e.stack ?? "").split("\n")) {
    const m = /at (?:\S+\.)?(\S+) \(wasm:\/\/[^)]*wasm-function\[(\d+)\]/.exec(line);
    if (!m) continue;
    const index = Number(m[2]);
    return m[1] !== "<anonymous>" ? m[1]! : names[index] ?? `func[${index}]`;
  }
  return null;
}
