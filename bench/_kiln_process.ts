/**
 * `kiln run` as a child process for the benchmarks that need the real thing (its API).
 *
 * @module
 */
import { ROOT } from "./_plan.ts";

/** A running `kiln run`; disposing it stops it with SIGTERM and waits for it to exit. */
export interface KilnProcess extends AsyncDisposable {
  /** e.g. `http://127.0.0.1:40123` */
  base: string;
  /** The `deno` process this started (it relaunches itself in a narrowed sandbox as its child). */
  pid: number;
}

/**
 * Starts `kiln run <manifest>` on a free loopback port with `KILN_ADMIN_TOKEN` set to `token`, and resolves
 * once it prints its API address.
 *
 * @throws {Error} when it exits or prints no address within `timeoutMs`.
 */
export async function startKiln(
  manifest: string,
  options: { token: string; timeoutMs?: number; lifetimeMs?: number },
): Promise<KilnProcess> {
  const data = await Deno.makeTempDir({ prefix: "kiln-bench-data-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, "run", manifest, "--data", data, "--listen", "127.0.0.1:0"],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", KILN_ADMIN_TOKEN: options.token },
    // The longest a benchmark's gateway may run (SIGTERM then), even if the benchmark never disposes of it.
    signal: AbortSignal.timeout(options.lifetimeMs ?? 30 * 60_000),
  }).spawn();
  let text = "";
  const pump = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) text += chunk;
  })();
  const errors = new Response(child.stderr).text();
  let exited = false;
  const status = child.status.then((s) => (exited = true, s));
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let base: string | null = null;
  while (base === null) {
    base = /health\s+(http:\/\/\S+)\/health/.exec(text)?.[1] ?? null;
    if (base !== null) break;
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill("SIGKILL");
      await status;
      throw new Error(`kiln run did not start: ${text}\n${await errors}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    base,
    pid: child.pid,
    async [Symbol.asyncDispose]() {
      if (!exited) child.kill("SIGTERM");
      await status;
      await pump;
      await errors;
      await Deno.remove(data, { recursive: true }).catch(() => {});
    },
  };
}

/** One line of the startup trace (`runtime/_startup_marks.ts`): a point, or a span that ended at `atMs`. */
export interface StartupMark {
  kind: "mark" | "span";
  name: string;
  /** ms since the origin (the benchmark's spawn) when it happened, or when the span ended. */
  atMs: number;
  /** A span's duration, ms; null for a point. */
  durationMs: number | null;
  pid: number;
}

/**
 * Parses the `@@mark <name> <ms> <pid>` and `@@span <name> <duration> <ms> <pid>` lines of a startup trace,
 * in order; every other line is ignored.
 */
export function parseStartupMarks(text: string): StartupMark[] {
  const out: StartupMark[] = [];
  for (const line of text.split("\n")) {
    const m = /^@@(mark|span) (\S+) (-?[\d.]+) (-?[\d.]+)(?: (\d+))?$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === "mark") {
      out.push({ kind: "mark", name: m[2]!, atMs: Number(m[3]), durationMs: null, pid: Number(m[4]) });
    } else if (m[5] !== undefined) {
      out.push({
        kind: "span",
        name: m[2]!,
        atMs: Number(m[4]),
        durationMs: Number(m[3]),
        pid: Number(m[5]),
      });
    }
  }
  return out;
}

/** What {@linkcode traceProcess} saw. */
export interface TracedStart {
  /** The startup trace, ms since spawning. */
  marks: StartupMark[];
  /** ms since spawning when stdout first held `stdoutLine`; null when it never did. */
  stdoutLineMs: number | null;
  stdout: string;
  stderr: string;
  /** ms since spawning when `until` held, or the process exited; null at the timeout. */
  doneMs: number | null;
}

/**
 * Spawns `deno <args>` with the startup trace on (its origin this call's spawn time), reads its marks as they
 * come, and once `until(marks)` holds (or the process exits) stops it with SIGTERM (SIGKILL after `stopMs`)
 * and waits for it. Bounded by `timeoutMs`.
 *
 * @throws {Error} when the process neither satisfies `until` nor exits within `timeoutMs`.
 */
export async function traceProcess(
  args: string[],
  options: {
    until: (marks: StartupMark[]) => boolean;
    stdoutLine?: RegExp;
    env?: Record<string, string>;
    timeoutMs?: number;
    stopMs?: number;
  },
): Promise<TracedStart> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const origin = performance.timeOrigin + performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env, KILN_STARTUP_MARKS: origin.toFixed(3) },
    signal: AbortSignal.timeout(timeoutMs + 30_000),
  }).spawn();
  const since = () => performance.timeOrigin + performance.now() - origin;
  let stdout = "";
  let stderr = "";
  let stdoutLineMs: number | null = null;
  let doneMs: number | null = null;
  let wake = Promise.withResolvers<void>();
  const poke = () => {
    const w = wake;
    wake = Promise.withResolvers<void>();
    w.resolve();
  };
  const pumpOut = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      stdout += chunk;
      if (stdoutLineMs === null && options.stdoutLine?.test(stdout)) stdoutLineMs = since();
      poke();
    }
  })();
  const pumpErr = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      poke();
    }
  })();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    poke();
    return s;
  });
  const deadline = Date.now() + timeoutMs;
  while (!exited && !options.until(parseStartupMarks(stderr))) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([wake.promise, new Promise((r) => timer = setTimeout(r, Math.min(left, 1000)))]);
    clearTimeout(timer);
  }
  if (exited || options.until(parseStartupMarks(stderr))) doneMs = since();
  if (!exited) {
    child.kill("SIGTERM");
    const kill = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
    }, options.stopMs ?? 20_000);
    await status;
    clearTimeout(kill);
  }
  await status;
  await pumpOut;
  await pumpErr;
  if (doneMs === null) {
    throw new Error(`deno ${args.join(" ")} did not get there in ${timeoutMs} ms:\n${stderr}`);
  }
  return { marks: parseStartupMarks(stderr), stdoutLineMs, stdout, stderr, doneMs };
}

/**
 * The npm packages `main.ts` imports, as `deno info` resolves them (what the floor imports): those it
 * imports statically, or with `dynamic` also those it may import later (`import()`: the CLI, which main.ts
 * names through constants, and a connector the manifest uses), in the order it would first reach them.
 */
export async function npmImportsOf(options: { dynamic: boolean }): Promise<string[]> {
  // main.ts imports the CLI through constants (a cached launch must not load its graph): `deno info` does not
  // follow those, so the CLI's files are roots of their own, in main.ts's order.
  const roots = options.dynamic ? ["main.ts", "cli/_env.ts", "cli/mod.ts"] : ["main.ts"];
  type Info = {
    roots: string[];
    modules: { specifier: string; dependencies?: { code?: { specifier?: string }; isDynamic?: boolean }[] }[];
  };
  const infos: Info[] = [];
  for (const root of roots) {
    const { stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", `${ROOT}${root}`],
      stdout: "piped",
      stderr: "null",
      cwd: ROOT,
      signal: AbortSignal.timeout(60_000),
    }).output();
    infos.push(JSON.parse(new TextDecoder().decode(stdout)) as Info);
  }
  // In the order `main.ts` evaluates them: depth first, each file's imports in its order (reflect-metadata
  // must come before @peculiar/x509, as signing/ imports them).
  const byUrl = new Map(infos.flatMap((info) => info.modules.map((m) => [m.specifier, m] as const)));
  const npm = new Set<string>();
  const seen = new Set<string>();
  const visit = (url: string) => {
    if (seen.has(url)) return;
    seen.add(url);
    for (const d of byUrl.get(url)?.dependencies ?? []) {
      const c = d.code?.specifier ?? "";
      if (d.isDynamic && !options.dynamic) continue;
      // Code only: a stylesheet or data file imported as text or bytes (uPlot's CSS) is not a package to load.
      if (c.startsWith("npm:") && !/\.(css|json|wasm|txt)$/.test(c)) npm.add(c.replace(/^npm:\//, "npm:"));
      else if (c.startsWith("file:")) visit(c);
    }
  };
  for (const info of infos) visit(info.roots[0]!);
  return [...npm];
}

/**
 * The phases of one traced `kiln run` of the demo (its `fft` and `anomaly` modules), ms since spawning or
 * durations; null where the trace lacks the marks (no relaunch, no uplink).
 */
export function startupPhases(marks: StartupMark[], listeningMs: number | null) {
  const starts = marks.flatMap((m, i) => (m.name === "process_start" ? [i] : []));
  const launcher = starts.length > 1 ? marks.slice(0, starts[1]) : [];
  const child = starts.length > 1 ? marks.slice(starts[1]) : marks;
  const at = (list: StartupMark[], name: string) => list.find((m) => m.name === name)?.atMs ?? null;
  const dur = (name: string) => child.find((m) => m.name === name)?.durationMs ?? null;
  const sum = (prefix: string) =>
    round2(child.filter((m) => m.name.startsWith(prefix)).reduce((a, m) => a + (m.durationMs ?? 0), 0));
  const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : round2(b - a));
  const executorsUp = child.filter((m) => m.name.startsWith("executor_ready:")).map((m) => m.atMs);
  const modulesFrom = at(child, "runtime_start");
  return {
    /** Spawn until the first process's V8 time origin (the Deno binary's own start). */
    process_start: at(launcher.length > 0 ? launcher : child, "process_start"),
    launcher_module_graph: diff(at(launcher, "process_start"), at(launcher, "graph_loaded")),
    /** The launcher: `kiln run`'s own modules loaded (cli/run.ts is imported when the command runs). */
    launcher_command_graph: diff(at(launcher, "graph_loaded"), at(launcher, "run_command")),
    /** The launcher: the manifest read, checked and planned. */
    launcher_manifest: diff(at(launcher, "run_command"), at(launcher, "manifest_loaded")),
    /** 1 when the launcher exec'd from its launch cache (cli/_launch_cache.ts), without loading the CLI; else 0. */
    launcher_cached: at(launcher, "relaunch_cached") !== null ? 1 : 0,
    /** From the launcher's decision to relaunch to the relaunched process's start (exec or spawn). */
    permission_relaunch: diff(
      at(launcher, "relaunch") ?? at(launcher, "relaunch_cached"),
      at(child, "process_start"),
    ),
    /** The launcher in all, from its code running to the relaunched process's start. */
    launcher_total: diff(at(launcher, "graph_loaded"), at(child, "process_start")),
    module_graph: diff(at(child, "process_start"), at(child, "graph_loaded")),
    command_graph: diff(at(child, "graph_loaded"), at(child, "run_command")),
    manifest: diff(at(child, "run_command"), at(child, "manifest_loaded")),
    /**
     * The gateway's modules (store, runtime, API: cli/_gateway.ts), imported while the manifest loads: what is
     * left to wait for after the manifest.
     */
    gateway_graph: diff(at(child, "manifest_loaded"), at(child, "gateway_loaded")),
    /** Store, data lock, snapshot worker, desired state, until createRuntime. */
    setup: diff(at(child, "gateway_loaded") ?? at(child, "graph_loaded"), at(child, "runtime_create")),
    /** Every module read, validated, instrumented and compiled (one after another). */
    modules_load: diff(at(child, "runtime_create"), at(child, "runtime_start")),
    instrument_total: sum("instrument:"),
    compile_total: sum("compile:"),
    /** Until the uplink's link is made (broker, MQTT client): alongside the modules' start, not before it. */
    uplink: diff(at(child, "runtime_start"), at(child, "uplink_up")),
    executors_up: executorsUp.length > 0 ? diff(modulesFrom, Math.max(...executorsUp)) : null,
    /** The normal executor's worker, from `new Worker` to its ready message (its module graph). */
    executor_worker_boot: diff(at(child, "executor_spawn:normal"), at(child, "executor_ready:normal")),
    snapshot_worker_open: dur("snapshot_worker_open"),
    fft_snapshot_read: dur("snapshot_read:fft"),
    fft_instantiate_restore: dur("instantiate_restore:fft"),
    fft_running: at(child, "module_running:fft"),
    fft_first_call: diff(at(child, "module_running:fft"), at(child, "first_output:fft")),
    fft_first_output: at(child, "first_output:fft"),
    anomaly_first_output: at(child, "first_output:anomaly"),
    modules_started: at(child, "modules_started"),
    runtime_started: at(child, "runtime_started"),
    listening: listeningMs === null ? null : round2(listeningMs),
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
