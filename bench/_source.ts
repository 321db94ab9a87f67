/**
 * One benchmark's results as the report reads them (`bench/results/<name>.json`), or why there are none:
 * shared by the report (`_report.ts`) and its curves (`_curves.ts`).
 *
 * @module
 */

/** The results of one benchmark, or why there are none. */
export interface Source {
  name: string;
  data: Record<string, unknown> | null;
  /** Why `data` is null. */
  reason: string;
  status: "ok" | "failed" | "missing";
  inThisRun: boolean;
}

/** What `bench/main.ts` knows of the run. */
export interface RunInfo {
  /** Benchmarks run now, and those of them that failed. */
  ran: ReadonlySet<string>;
  failed: ReadonlySet<string>;
  runS: number;
  command: string;
}

const RESULTS = new URL("results/", import.meta.url);

/** Reads `bench/results/<name>.json`. */
export async function loadSource(name: string, info: RunInfo): Promise<Source> {
  const inThisRun = info.ran.has(name);
  let data: Record<string, unknown> | null = null;
  try {
    data = JSON.parse(await Deno.readTextFile(new URL(`${name}.json`, RESULTS)));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  if (info.failed.has(name)) {
    // An older file may still be there; a failed run's figures are not reported from it.
    return { name, data: null, reason: `bench/${name}.ts failed in this run`, status: "failed", inThisRun };
  }
  if (data === null) {
    return {
      name,
      data: null,
      reason: `bench/results/${name}.json does not exist`,
      status: "missing",
      inThisRun,
    };
  }
  return { name, data, reason: "", status: "ok", inThisRun };
}
