/**
 * Module faults as data: the error an interrupted or failed call throws, and how a trap V8 raised is told
 * apart (its kind, and the Wasm function that was running).
 *
 * @module
 */
import { WasiExit } from "./host_wasi.ts";
import type { FunctionNames, ModuleFault, TrapKind } from "./protocol.ts";

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
  [/Atomics\.wait cannot be called/i, "atomic_wait"],
  [/unaligned/i, "unaligned_atomic"],
];

/**
 * Turns what a Wasm call threw into a fault: the trap kind from V8's `RuntimeError`, and the Wasm
 * function from the first `wasm://` stack frame. A non-Wasm exception is a host error.
 */
export function classifyTrap(err: unknown, entry: string, names: FunctionNames = []): ModuleFault {
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
 * The fault of a call that was interrupted (`interrupt`: over budget, out of fuel, `proc_exit`, a host
 * error) and then ended by `err`, usually the `unreachable` trap the instrumented code executes: the
 * interrupt's kind and message, naming the Wasm function that was running.
 */
export function attributeInterrupt(
  interrupt: ModuleFault,
  err: unknown,
  entry: string,
  names: FunctionNames = [],
): ModuleFault {
  if (interrupt.function !== null) return interrupt;
  const fn = (err instanceof Error ? wasmFunctionOf(err, names) : null) ?? entry;
  return { ...interrupt, function: fn, message: `${interrupt.message} in ${fn}` };
}

/**
 * The innermost Wasm function in V8's stack trace: `at name (wasm://wasm/<hash>:wasm-function[N]:0x<offset>)`.
 * V8 prints `<anonymous>` when the function has no name in the name section, and (V8 15) an index that is
 * not the function index; the byte offset, a module offset, names it through `names`.
 */
function wasmFunctionOf(e: Error, names: FunctionNames): string | null {
  for (const line of (e.stack ?? "").split("\n")) {
    const m = /at (?:\S+\.)?(\S+) \(wasm:\/\/[^)]*wasm-function\[(\d+)\]:0x([0-9a-f]+)/.exec(line);
    if (!m) continue;
    if (m[1] !== "<anonymous>") return m[1]!;
    const offset = parseInt(m[3]!, 16);
    return names.find(([start, end]) => offset >= start && offset < end)?.[2] ?? `func[${m[2]}]`;
  }
  return null;
}
