/**
 * Shadow validation (`docs/shadow.md`): `POST /api/v1/modules/:name/shadow` attaches a candidate build beside
 * the running module (admin; multipart with `wasm`, and optional `signature`, `spec` — the manifest entry a
 * promotion deploys it with —, `tolerance`, `start` — `image` or `init` — and `warmup`, a number of
 * invocations), `GET` says how it compares, `POST .../shadow/promote` deploys
 * the candidate through the normal deploy path (trial, probation, versions) and `DELETE` drops it.
 *
 * @module
 */
import { multipartForm } from "../_multipart.ts";
import { type Context, Hono } from "hono";
import type { Deployer } from "../../runtime/mod.ts";
import { SHADOW_STARTS, type ShadowStart, type ShadowStatus } from "../../runtime/shadow/mod.ts";
import { roleAllows } from "../../snapshots/mod.ts";
import { isoTime, type Json } from "../_json.ts";
import { BadRequestError, ForbiddenError, NotFoundError } from "../errors.ts";
import type { Principal } from "../auth.ts";
import type { ShadowControl } from "../ports.ts";
import { actorOf } from "./deployments.ts";

/** A difference as JSON: a number, or the string `"inf"` (NaN against a number, or a shape mismatch). */
const diffJson = (d: number): number | string => Number.isFinite(d) ? d : "inf";

/**
 * A shadow's status as JSON: `module`, `state` (`starting`, `running`, `stopped`), `reason`, `live_sha256`,
 * `candidate_sha256`, `start` (`image`, `init`), `invocations`, `matched`, `diverged` (after the warm-up),
 * `warmup_invocations` (asked for), `warmup` (run so far, counted apart), `layout_difference` (what differs in
 * the declared memory layouts, or null), `largest_difference` (per output name),
 * `first_divergence` (`invocation`, `entry`, `call`, `what`, `live`, `candidate`), `suppressed_effects`,
 * `time_per_call_us` (`live` and `candidate`: `calls`, `mean`, `p50`, `p99`), `tolerance`, `started_at`,
 * `by`.
 */
export function shadowJson(s: ShadowStatus): Json {
  const times = (t: ShadowStatus["live"]) => ({ calls: t.calls, mean: t.meanUs, p50: t.p50Us, p99: t.p99Us });
  const largest: Record<string, number | string> = Object.create(null);
  for (const [name, d] of s.largestDifference) largest[name] = diffJson(d);
  return {
    module: s.module,
    state: s.state,
    reason: s.reason,
    live_sha256: s.liveSha256,
    candidate_sha256: s.candidateSha256,
    start: s.start,
    invocations: s.invocations,
    matched: s.matched,
    diverged: s.diverged,
    warmup_invocations: s.warmupInvocations,
    warmup: s.warmup,
    layout_difference: s.layoutDifference,
    largest_difference: largest,
    first_divergence: s.firstDivergence,
    suppressed_effects: s.suppressedEffects,
    time_per_call_us: { live: times(s.live), candidate: times(s.candidate) },
    tolerance: s.tolerance,
    started_at: isoTime(s.startedAtMs),
    by: s.by,
  } as Json;
}

/** Refuses a token below admin (attaching runs new code on the gateway; promoting deploys it). */
function requireAdmin(c: Context): void {
  const who = c.get("principal" as never) as Principal | undefined;
  if (who !== undefined && !roleAllows(who.role, "admin")) {
    throw new ForbiddenError(
      "admin",
      who.role,
      `${c.req.method} ${c.req.path} needs the admin role; the token "${who.name}" has ${who.role}`,
    );
  }
}

/** A text field's value (a file part read as text), or undefined when absent. */
async function textOf(v: string | File | undefined): Promise<string | undefined> {
  return v === undefined ? undefined : typeof v === "string" ? v : await v.text();
}

/** The `start` field: `image` (the default) or `init`. @throws {BadRequestError} for another value. */
function startOf(v: string | undefined): ShadowStart {
  if (v === undefined) return "image";
  const start = SHADOW_STARTS.find((s) => s === v);
  if (start === undefined) {
    throw new BadRequestError(
      `Field "start" must be "image" (resume from the live module's memory) or "init" (run the candidate's ` +
        `own kiln_init), got ${JSON.stringify(v)}`,
    );
  }
  return start;
}

/** The `warmup` field: a whole number of invocations, at least 0 (default 0). @throws {BadRequestError} */
function warmupOf(v: string | undefined): number {
  if (v === undefined) return 0;
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new BadRequestError(
      `Field "warmup" must be a whole number of invocations of at least 0, got ${JSON.stringify(v)}`,
    );
  }
  return n;
}

async function bytesOf(v: string | File | undefined): Promise<Uint8Array | null> {
  if (v === undefined) return null;
  return typeof v === "string" ? new TextEncoder().encode(v) : new Uint8Array(await v.arrayBuffer());
}

/** Routes under `/api/v1/modules`; without shadows (a runtime that has none), 404 `shadow_unavailable`. */
export function shadowRoutes(shadows: ShadowControl | null, deployer: Deployer | undefined): Hono {
  const app = new Hono();
  const control = (): ShadowControl => {
    if (shadows === null) {
      throw new NotFoundError("shadow_unavailable", "This runtime does not run shadow candidates");
    }
    return shadows;
  };
  app.post("/:name/shadow", async (c) => {
    requireAdmin(c);
    const s = control();
    const form = await multipartForm(c);
    const field = form.field;
    const wasm = field("wasm");
    if (!(wasm instanceof File)) throw new BadRequestError(`The shadow needs a "wasm" file part`);
    const spec = field("spec");
    const tol = field("tolerance");
    const tolerance = tol === undefined ? 0 : Number(typeof tol === "string" ? tol : await tol.text());
    if (!Number.isFinite(tolerance) || tolerance < 0) {
      throw new BadRequestError(
        `Field "tolerance" must be a number of at least 0, got ${JSON.stringify(tol)}`,
      );
    }
    const start = startOf(await textOf(field("start")));
    const warmupInvocations = warmupOf(await textOf(field("warmup")));
    const status = await s.attach(c.req.param("name"), {
      wasm: new Uint8Array(await wasm.arrayBuffer()),
      signature: await bytesOf(field("signature")),
      spec: spec === undefined ? null : typeof spec === "string" ? spec : await spec.text(),
      tolerance,
      start,
      warmupInvocations,
      by: actorOf(c),
    });
    return c.json(shadowJson(status), 201);
  });
  app.get("/:name/shadow", (c) => {
    const name = c.req.param("name");
    const status = control().status(name);
    if (status === null) {
      throw new NotFoundError("shadow_not_found", `Module "${name}" has no shadow candidate`);
    }
    return c.json(shadowJson(status));
  });
  app.post("/:name/shadow/promote", async (c) => {
    requireAdmin(c);
    const s = control();
    const name = c.req.param("name");
    if (!deployer) {
      throw new NotFoundError("deploy_unavailable", "This runtime does not take deploys over the API");
    }
    const candidate = s.candidate(name);
    if (candidate.spec === null) {
      throw new BadRequestError(
        `The shadow of "${name}" was attached without a "spec": a promotion deploys the candidate with the ` +
          "manifest entry given when it was attached; attach it again with one",
      );
    }
    const last = s.status(name)!;
    const result = await deployer.deploy({
      name,
      spec: candidate.spec,
      wasm: candidate.wasm,
      files: new Map(),
      by: actorOf(c),
      signature: candidate.signature,
    });
    // The deploy replaced the live instance: the shadow stopped with it (`module_stopped`); it is forgotten.
    if (s.status(name) !== null) s.drop(name, "promoted");
    return c.json({
      shadow: { ...shadowJson(last) as Record<string, Json>, state: "stopped", reason: "promoted" },
      module: result.status,
      replaced_sha256: result.replaced,
      ...(result.versionSeq !== null && { version_seq: result.versionSeq }),
    } as Json);
  });
  app.delete("/:name/shadow", (c) => {
    requireAdmin(c);
    return c.json(shadowJson(control().drop(c.req.param("name"))));
  });
  return app;
}
