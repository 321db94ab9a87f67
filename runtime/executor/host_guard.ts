/**
 * The guard every host import of a module instance goes through (the `kiln` namespace and WASI alike):
 * host work is charged to the call's budget. The instrumented code checks the deadline only every few
 * thousand check sites, whatever each site costs in the host, so a loop of expensive host calls would run
 * far past its budget; instead each host call first asks the instance whether the call may still do work.
 * Past the deadline the import does nothing and returns its refusal value, and the instance makes the next
 * check site trap.
 *
 * A host function that throws (`proc_exit`, a host error) is reported to the instance before the exception
 * unwinds: a module may catch a JavaScript exception with `catch_all`, but the instance then interrupts it
 * at its next check site with that fault.
 *
 * Runs in the executor.
 *
 * @module
 */

/** A host import as linked into an instance. */
export type HostFunction = (...args: never[]) => unknown;

/** What {@linkcode guardImports} needs of the instance. */
export interface HostGate {
  /** True while the running call may do host work; false once it is past its deadline or interrupted. */
  allow(): boolean;
  /** A host function threw `err` (called before it propagates into the module). */
  threw(err: unknown, name: string): void;
}

/**
 * Wraps each import so that it runs only while `gate.allow()`, returning `refusal(name)` otherwise.
 * `exempt` names pass through unwrapped (the instrumentation's `__check`, `proc_exit`).
 */
export function guardImports(
  imports: Readonly<Record<string, HostFunction>>,
  gate: HostGate,
  options: { refusal: (name: string) => unknown; exempt?: ReadonlySet<string> },
): Record<string, HostFunction> {
  const guarded: Record<string, HostFunction> = Object.create(null);
  for (const name of Object.keys(imports)) {
    const fn = imports[name]! as (...args: unknown[]) => unknown;
    if (options.exempt?.has(name)) {
      guarded[name] = fn;
      continue;
    }
    const refused = options.refusal(name);
    guarded[name] = (...args: unknown[]): unknown => {
      if (!gate.allow()) return refused;
      try {
        return fn(...args);
      } catch (err) {
        gate.threw(err, name);
        throw err;
      }
    };
  }
  return guarded;
}
