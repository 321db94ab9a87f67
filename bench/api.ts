/**
 * The control plane under load:
 *
 * - `GET /health` and `GET /api/v1/modules` requests/s against a real `kiln run examples/demo.yaml` (its five
 *   modules running), from `wrk` (Debian's package) in its own process with an admin bearer token: 5 runs of a
 *   few seconds, 2 threads and 32 connections; the two share the machine's cores with Kiln. Any non-2xx answer
 *   fails it. The floor, in the same runs: a bare Hono app on `Deno.serve` (bench/_hono_floor.ts) answering
 *   the same two routes with the documents Kiln answered after its modules ran 2 s (so the same sizes), no
 *   middleware; each run measures Kiln and the floor back to back, the order alternating.
 * - WebSocket fan-out: Kiln's `StreamHub` and stream route in a server process (bench/_ws_server.ts)
 *   publishing 1 kHz telemetry on one topic to 100 subscribers in this process (authenticated by the upgrade's
 *   `Authorization` header); frames received per second (all subscribers together), frames the hub dropped for slow
 *   subscribers, and the server's CPU use.
 *
 * Without `wrk` on PATH the request figures are null with the reason.
 *
 * Run: `deno run -A bench/api.ts`; writes bench/results/api.json.
 *
 * @module
 */
import { distribution, machine, ROOT, writeResult } from "./_plan.ts";
import { startKiln } from "./_kiln_process.ts";
import { toolVersion } from "./_native.ts";

const TOKEN = "kiln_bench_api_token";
const WRK_RUNS = 5;
const WRK_SECONDS = 3;
const WRK_CONNECTIONS = 32;
/** How long the demo runs before the floor's documents are taken from it, ms. */
const WARMUP_MS = 2000;
const SUBSCRIBERS = 100;
const WS_RATE_HZ = 1000;
const WS_WARMUP_MS = 1000;
const WS_SECONDS = 5;

/** Parses wrk's `--latency` output: requests/s and latency percentiles in ms. */
function parseWrk(out: string) {
  const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(out)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s*(\d+)/.exec(out)?.[1] ?? 0);
  const errors = /Socket errors:[^\n]*/.exec(out)?.[0] ?? null;
  const toMs = (v: string, unit: string) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? NaN);
  const percentile = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(out);
    return m ? toMs(m[1]!, m[2]!) : NaN;
  };
  if (!Number.isFinite(rps)) throw new Error(`Cannot read wrk's output: ${out}`);
  return { rps, non2xx, errors, p50Ms: percentile("50"), p99Ms: percentile("99") };
}

/** The routes measured, each against Kiln and against the bare Hono floor. */
const ROUTES = { health: "/health", modules: "/api/v1/modules" } as const;
type Route = keyof typeof ROUTES;

/** One wrk run against `url`; fails on any non-2xx answer. */
async function wrkRun(url: string) {
  const { stdout, stderr, code } = await new Deno.Command("wrk", {
    args: [
      "-t2",
      `-c${WRK_CONNECTIONS}`,
      `-d${WRK_SECONDS}s`,
      "--latency",
      "-H",
      `Authorization: Bearer ${TOKEN}`,
      url,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(WRK_SECONDS * 1000 + 120_000),
  }).output();
  const out = new TextDecoder().decode(stdout);
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${new TextDecoder().decode(stderr)}`);
  const r = parseWrk(out);
  if (r.non2xx > 0) throw new Error(`wrk got ${r.non2xx} non-2xx answers from ${url}`);
  return r;
}

/**
 * The floor (bench/_hono_floor.ts) in its own process, answering `documents`; disposing of it closes its
 * standard input (it exits) and waits for it.
 */
async function startFloor(documents: Record<Route, string>) {
  const dir = await Deno.makeTempDir({ prefix: "kiln-bench-floor-" });
  const files = [`${dir}/health.json`, `${dir}/modules.json`];
  await Deno.writeTextFile(files[0]!, documents.health);
  await Deno.writeTextFile(files[1]!, documents.modules);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("_hono_floor.ts", import.meta.url).pathname, ...files],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
    signal: AbortSignal.timeout(30 * 60_000), // the longest it may serve, should this never dispose of it
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`The bare Hono floor exited early: ${text}`);
    text += value;
  }
  const { port } = JSON.parse(text.slice(0, text.indexOf("\n"))) as { port: number };
  return {
    base: `http://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      await child.stdin.close().catch(() => {});
      await child.status;
      await lines.cancel().catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

async function requests() {
  // `output()` throws before it returns a promise when the program is missing: hence the async wrapper.
  const wrk = await toolVersion("wrk").catch(() => null) ??
    await (async () =>
      await new Deno.Command("wrk", {
        args: ["-v"],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output())()
      .then((o) => new TextDecoder().decode(o.stdout).split("\n")[0]!.trim() || "wrk")
      .catch(() => null);
  if (wrk === null) {
    return { reason: "wrk is not installed (apt-get install -y wrk)" };
  }
  await using kiln = await startKiln(`${ROOT}examples/demo.yaml`, { token: TOKEN });
  const headers = { authorization: `Bearer ${TOKEN}` };
  const url = `${kiln.base}${ROUTES.modules}`;
  const check = await fetch(url, { headers });
  const { modules } = (await check.json()) as { modules?: unknown[] };
  if (!check.ok || !Array.isArray(modules)) throw new Error(`GET ${url} answered ${check.status}`);
  // The floor answers what Kiln answers once its modules have run a while (outputs filled in).
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const documents = {} as Record<Route, string>;
  for (const route of Object.keys(ROUTES) as Route[]) {
    const res = await fetch(`${kiln.base}${ROUTES[route]}`, { headers });
    documents[route] = await res.text();
    if (!res.ok) throw new Error(`GET ${ROUTES[route]} answered ${res.status}`);
  }
  await using floor = await startFloor(documents);
  type Run = Awaited<ReturnType<typeof wrkRun>>;
  const runs = Object.fromEntries(
    (Object.keys(ROUTES) as Route[]).map((r) => [r, { kiln: [] as Run[], floor: [] as Run[] }]),
  ) as Record<Route, { kiln: Run[]; floor: Run[] }>;
  // Back to back, the order alternating each run, so a change in the machine's load hits both sides alike.
  for (let i = 0; i < WRK_RUNS; i++) {
    for (const route of Object.keys(ROUTES) as Route[]) {
      const sides = i % 2 === 0 ? (["kiln", "floor"] as const) : (["floor", "kiln"] as const);
      for (const side of sides) {
        const base = side === "kiln" ? kiln.base : floor.base;
        runs[route][side].push(await wrkRun(`${base}${ROUTES[route]}`));
      }
    }
  }
  const figures = (rs: Run[]) => ({
    requests_per_s: distribution(rs.map((r) => r.rps), 0),
    latency_ms: {
      p50: distribution(rs.map((r) => r.p50Ms), 2),
      p99: distribution(rs.map((r) => r.p99Ms), 2),
    },
  });
  const routes = Object.fromEntries(
    (Object.keys(ROUTES) as Route[]).map((route) => {
      const { kiln: k, floor: f } = runs[route];
      return [route, {
        path: ROUTES[route],
        response_bytes: new TextEncoder().encode(documents[route]).length,
        kiln: figures(k),
        bare_hono: figures(f),
        /** Each run's Kiln requests/s over the bare app's in the same run, back to back. */
        ratio_to_bare_hono: distribution(k.map((r, i) => r.rps / f[i]!.rps), 3),
      }];
    }),
  );
  const modulesFigures = figures(runs.modules.kiln);
  return {
    wrk,
    modules_listed: modules.length,
    // GET /api/v1/modules against Kiln, as before the floor was added.
    requests_per_s: modulesFigures.requests_per_s,
    latency_ms: modulesFigures.latency_ms,
    routes,
    socket_errors: [...runs.health.kiln, ...runs.health.floor, ...runs.modules.kiln, ...runs.modules.floor]
      .flatMap((r) => (r.errors ? [r.errors] : [])),
  };
}

interface ServerResult {
  published: number;
  measured_published: number;
  measured_s: number;
  cpu_percent: number;
  sent: number;
  dropped: number;
  peak_queued: number;
}

async function fanOut() {
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("_ws_server.ts", import.meta.url).pathname,
      "--token",
      TOKEN,
      "--clients",
      String(SUBSCRIBERS),
      "--rate-hz",
      String(WS_RATE_HZ),
      "--warmup-ms",
      String(WS_WARMUP_MS),
      "--seconds",
      String(WS_SECONDS),
    ],
    stdout: "piped",
    stderr: "inherit",
    signal: AbortSignal.timeout(WS_WARMUP_MS + WS_SECONDS * 1000 + 300_000),
  }).spawn();
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (): Promise<string> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("The WebSocket server exited early");
      buffered += value;
    }
    const i = buffered.indexOf("\n");
    const line = buffered.slice(0, i);
    buffered = buffered.slice(i + 1);
    return line;
  };
  const { port } = JSON.parse(await nextLine()) as { port: number };

  /** Measured frames received, by second since the first one. */
  const perSecond: number[] = [];
  let firstAt = 0;
  let lastAt = 0;
  let received = 0;
  let missed = 0;
  let gaps = 0;
  const sockets: WebSocket[] = [];
  const closed: Promise<void>[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    // The token in the upgrade's header: 100 connections at once waiting to send it in their first message
    // would be more than the hub lets wait (32: it closes the oldest, as against a connection flood).
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/stream`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    let lastSeq = 0;
    ws.onopen = () => ws.send(JSON.stringify({ type: "subscribe", topics: ["outputs/bench"] }));
    // Cheap on purpose (no JSON.parse per frame): these clients share the machine with the server.
    ws.onmessage = (e) => {
      const text = e.data as string;
      const seq = Number(/^\{"seq":(\d+)/.exec(text)?.[1]);
      if (seq !== lastSeq + 1) gaps++;
      lastSeq = seq;
      if (text.includes('"topic":"dropped"')) {
        missed += (JSON.parse(text) as { data: { missed: number } }).data.missed;
        return;
      }
      if (!text.includes('"topic":"outputs/bench"') || !text.includes('"measured":true')) return;
      const now = performance.now();
      if (received === 0) firstAt = now;
      lastAt = now;
      received++;
      const s = Math.floor((now - firstAt) / 1000);
      perSecond[s] = (perSecond[s] ?? 0) + 1;
    };
    closed.push(new Promise((resolve) => (ws.onclose = () => resolve())));
    sockets.push(ws);
  }
  const result = JSON.parse(await nextLine()) as ServerResult;
  await server.status;
  for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.close();
  await Promise.all(closed);
  const offered = result.measured_published * SUBSCRIBERS;
  const spanS = (lastAt - firstAt) / 1000;
  return {
    subscribers: SUBSCRIBERS,
    publish_rate_hz: WS_RATE_HZ,
    offered_frames_per_s: Math.round(offered / result.measured_s),
    /** Measured frames all subscribers received, over the span from the first to the last of them. */
    frames_per_s: Math.round(received / spanS),
    // Whole seconds only: the last bucket is partial.
    frames_per_s_by_second: distribution(perSecond.slice(0, Math.floor(spanS)), 0),
    delivered_percent: Math.round((received / offered) * 1000) / 10,
    dropped_frames: result.dropped,
    missed_frames_notified: missed,
    seq_gaps: gaps,
    server_cpu_percent: result.cpu_percent,
    peak_queued_frames: result.peak_queued,
  };
}

const http = await requests();
const ws = await fanOut();
const report = {
  machine: await machine(),
  method:
    `requests: ${WRK_RUNS} runs of wrk -t2 -c${WRK_CONNECTIONS} -d${WRK_SECONDS}s --latency with an admin ` +
    `bearer token against GET /health and GET /api/v1/modules of kiln run examples/demo.yaml (demo modules ` +
    `running), and in each run, back to back (order alternating), against a bare Hono app on Deno.serve ` +
    `answering the same routes with the documents Kiln answered (routes.<route>.bare_hono); wrk, Kiln and the ` +
    `floor on the same cores; distributions are over the runs. WebSocket: StreamHub and the /api/v1/stream route ` +
    `on Deno.serve in a server process publishing ${WS_RATE_HZ} frames/s (a module's outputs, ~200 B) on one ` +
    `topic after a ${WS_WARMUP_MS} ms warm-up, for ${WS_SECONDS} s, to ${SUBSCRIBERS} WebSocket clients in this ` +
    `process (token in their first message); frames_per_s counts the measured frames all clients received, ` +
    `over the span from the first to the last; server_cpu_percent is the server process, % of one core`,
  http,
  websocket: ws,
};
await writeResult("api", report);
console.log(JSON.stringify(report, null, 2));
