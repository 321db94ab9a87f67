/**
 * Bounded waits for the contract suites (`_contract.ts` files) and the tests that run them: a condition
 * polled until it holds, a promise that must settle. Their limits are guards against a hang, so that a test
 * fails instead of stalling the run, never a measure of speed: no test asserts them.
 *
 * @module
 */

/** How long a wait may take before the test fails, ms: generous for a busy 2-core machine. */
export const WAIT_LIMIT_MS = 60_000;

/**
 * Resolves with the first truthy value `check` returns, polling every 20 ms; `check` may be async.
 *
 * @throws {Error} naming `what` (and `describe()`'s text, when given) when it stays falsy for `limitMs`.
 */
export async function waitUntil<T>(
  what: string,
  check: () => T | Promise<T>,
  options: { readonly limitMs?: number; readonly describe?: () => string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.limitMs ?? WAIT_LIMIT_MS);
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) {
      const detail = options.describe ? ` (${options.describe()})` : "";
      throw new Error(`Waited in vain for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Resolves with `promise`'s value, or rejects naming `what` when it has not settled after `limitMs`.
 *
 * @throws {Error} when `promise` rejects (its error) or does not settle in time.
 */
export async function settles<T>(
  promise: Promise<T>,
  what: string,
  { limitMs = WAIT_LIMIT_MS }: { readonly limitMs?: number } = {},
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${limitMs} ms`)), limitMs);
  });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}
