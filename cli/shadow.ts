/**
 * `kiln shadow`: runs a candidate build beside a module of a running gateway, on the same inputs, its side
 * effects captured instead of carried out (`POST /api/v1/modules/:name/shadow`, `docs/shadow.md`), and shows
 * how it compares, promotes it through the deploy path or drops it.
 *
 * @module
 */
import { parse, UsageError } from "./_usage.ts";
import { requestJson, tokenFor } from "./_api_client.ts";

/** Help lines of `kiln shadow`, for `kiln --help`. */
export const SHADOW_HELP =
  `  kiln shadow <module> <candidate.wasm> --url URL [--token T] [--data DIR] [--sig FILE] [--spec FILE]
              [--tolerance X] [--start image|init] [--warmup N]
      Run a candidate build beside a running module on the same inputs (admin token); its publishes,
      actuations, GPIO and channel writes, alerts and outputs are compared with the live module's and never
      carried out. --spec is the manifest entry a promotion deploys it with; --tolerance the largest float
      difference counted as a match (default 0: bit for bit); --start init runs the candidate's own kiln_init
      (a build with another memory layout) instead of resuming it from the live module's memory (image, the
      default); --warmup N counts the first N compared invocations apart (a cold candidate's warm-up).
  kiln shadow status|promote|drop <module> --url URL [--token T] [--data DIR] [--json]
      Show how the candidate compares (matched and diverged invocations, the first divergence, the largest
      difference per output, time per call), deploy it through the deploy path, or drop it.`;

/** Runs `kiln shadow`; 0 on success. */
export async function shadowCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      url: { type: "string" },
      token: { type: "string" },
      data: { type: "string", default: "./data" },
      sig: { type: "string" },
      spec: { type: "string" },
      tolerance: { type: "string" },
      start: { type: "string" },
      warmup: { type: "string" },
      json: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  if (values.url === undefined) throw new UsageError("shadow needs --url URL (a running gateway)");
  const token = await tokenFor(values.token, values.data);
  const [first, second] = positionals;
  if (positionals.length !== 2 || first === undefined || second === undefined) {
    throw new UsageError("shadow takes <module> <candidate.wasm>, or status|promote|drop <module>");
  }
  if (values.start !== undefined && values.start !== "image" && values.start !== "init") {
    throw new UsageError(`shadow --start takes "image" or "init", got "${values.start}"`);
  }
  if (values.warmup !== undefined && !/^\d+$/.test(values.warmup)) {
    throw new UsageError(`shadow --warmup takes a whole number of invocations, got "${values.warmup}"`);
  }
  const verb = ["status", "promote", "drop"].includes(first) && !second.endsWith(".wasm") ? first : null;
  const name = verb === null ? first : second;
  const base = `${values.url.replace(/\/$/, "")}/api/v1/modules/${encodeURIComponent(name)}/shadow`;
  let body: Record<string, unknown>;
  if (verb === "status") body = await requestJson(base, { token, what: `read the shadow of "${name}"` });
  else if (verb === "drop") {
    body = await requestJson(base, { method: "DELETE", token, what: `drop the shadow of "${name}"` });
  } else if (verb === "promote") {
    body = await requestJson(`${base}/promote`, {
      method: "POST",
      token,
      what: `promote the shadow of "${name}"`,
    });
  } else {
    const form = new FormData();
    const file = (path: string) => Deno.readFile(path).then((b) => new Blob([b as Uint8Array<ArrayBuffer>]));
    form.set("wasm", await file(second), "candidate.wasm");
    if (values.sig !== undefined) form.set("signature", await file(values.sig), "candidate.wasm.sig");
    if (values.spec !== undefined) form.set("spec", await Deno.readTextFile(values.spec));
    if (values.tolerance !== undefined) form.set("tolerance", values.tolerance);
    if (values.start !== undefined) form.set("start", values.start);
    if (values.warmup !== undefined) form.set("warmup", values.warmup);
    body = await requestJson(base, { method: "POST", form, token, what: `shadow "${name}" with ${second}` });
  }
  if (values.json) console.log(JSON.stringify(body, null, 2));
  else console.log(describe(verb ?? "attach", body));
  return 0;
}

/** One status as text lines. */
function describe(verb: string, body: Record<string, unknown>): string {
  const s = (verb === "promote" ? body.shadow : body) as Record<string, unknown>;
  const lines = [
    `shadow of "${s.module}": ${s.state}${s.reason ? ` (${s.reason})` : ""}, candidate ${
      String(s.candidate_sha256).slice(0, 12)
    } beside ${String(s.live_sha256).slice(0, 12)}, start ${s.start ?? "image"}`,
    `invocations ${s.invocations}: matched ${s.matched}, diverged ${s.diverged}` +
    (Number(s.warmup_invocations ?? 0) > 0
      ? ` (after a warm-up of ${s.warmup} of ${s.warmup_invocations} invocations, counted apart)`
      : ""),
  ];
  if (s.layout_difference && (s.start ?? "image") === "image") {
    lines.push(`layout: ${s.layout_difference}; --start init runs the candidate's own kiln_init instead`);
  }
  const first = s.first_divergence as Record<string, unknown> | null;
  if (first) {
    lines.push(
      `first divergence at invocation ${first.invocation} (${first.entry}, ${
        first.call ?? "result"
      }): ${first.what}`,
      `  live:      ${first.live}`,
      `  candidate: ${first.candidate}`,
    );
  }
  const largest = Object.entries((s.largest_difference ?? {}) as Record<string, unknown>);
  if (largest.length > 0) {
    lines.push(`largest difference: ${largest.map(([k, v]) => `${k} ${v}`).join(", ")}`);
  }
  const t = s.time_per_call_us as Record<string, Record<string, unknown>> | undefined;
  if (t) {
    const f = (x: Record<string, unknown>) => `p50 ${x.p50 ?? "-"} us, p99 ${x.p99 ?? "-"} us`;
    lines.push(`time per call: candidate ${f(t.candidate!)}; live ${f(t.live!)}`);
  }
  if (verb === "promote") {
    const m = body.module as Record<string, unknown>;
    lines.push(`promoted: "${m.name}" now runs ${String(m.sha256).slice(0, 12)}`);
  }
  return lines.join("\n");
}
