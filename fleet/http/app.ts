/**
 * The controller's HTTP API (`kiln fleet serve`) on Hono, with the gateway API's conventions: bearer tokens
 * with roles (`auth.ts`), the one error body with statuses from error kinds, snake_case JSON (`json.ts`), a
 * request body limit. `createFleetApp` builds it over a {@linkcode FleetStore}; serving it is the caller's
 * job, so tests call `app.request()` in process.
 *
 * A command (pause, resume, approve, abort) or a new rollout is written to the store, as the same command on
 * the command line does; `onChange` lets the loop beside the API step it at once instead of at its next tick.
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { errorResponse, jsonBody, NotFoundError, PayloadTooLargeError } from "../../api/errors.ts";
import { RolloutNotFoundError } from "../errors.ts";
import type { FleetStore, RolloutCommand } from "../store.ts";
import type { RolloutState } from "../types.ts";
import { type Authenticator, fleetAuthMiddleware } from "./auth.ts";
import { handleFleetError, RequestInvalidError } from "./errors.ts";
import { deviceJson, memberJson, rolloutJson, versionGroups } from "./json.ts";
import { rolloutFromBody } from "./rollout_body.ts";
import { fleetOpenApiDocument } from "./openapi.ts";

/** The largest request body, bytes. */
export const FLEET_MAX_BODY_BYTES = 64 * 1024;

/** What the controller's API needs. */
export interface FleetAppDeps {
  /** The controller's store (`<data>/fleet.db`). */
  readonly store: FleetStore;
  /** The token check; without one every route is open (tests only). */
  readonly auth?: Authenticator;
  /** Kiln's version, in `/health`. */
  readonly version: string;
  /** The request body limit, bytes. @default FLEET_MAX_BODY_BYTES */
  readonly maxBodyBytes?: number;
  /** The clock, ms since the epoch. @default Date.now */
  readonly now?: () => number;
  /** The broker URL of the controller loop serving beside the API, for `/health`; null: none. */
  readonly broker?: string | null;
  /** Called after a rollout was created or commanded, e.g. to step the loop now rather than at its tick. */
  readonly onChange?: () => void;
}

const STATES: readonly RolloutState[] = [
  "running",
  "paused",
  "awaiting_approval",
  "completed",
  "rolled_back",
  "aborted",
];
const COMMANDS: readonly RolloutCommand[] = ["pause", "resume", "approve", "abort"];

/** Builds the controller's HTTP API. */
export function createFleetApp(deps: FleetAppDeps): Hono {
  const { store } = deps;
  const now = deps.now ?? Date.now;
  const app = new Hono();
  app.onError(handleFleetError);
  if (deps.auth) app.use("*", fleetAuthMiddleware(deps.auth));
  const limit = deps.maxBodyBytes ?? FLEET_MAX_BODY_BYTES;
  app.use(
    "*",
    bodyLimit({ maxSize: limit, onError: (c) => errorResponse(c, new PayloadTooLargeError(limit)) }),
  );
  app.notFound((c) =>
    errorResponse(c, new NotFoundError("not_found", `No route for ${c.req.method} ${c.req.path}`))
  );

  app.get("/", (c) =>
    c.json({
      name: "kiln-fleet",
      endpoints: ["/health", "/openapi.json", "/api/v1/rollouts", "/api/v1/devices", "/api/v1/status"],
    }));
  app.get("/openapi.json", (c) => c.json(fleetOpenApiDocument(deps.version)));
  app.get("/health", (c) => {
    const active = store.listRollouts({ active: true }).length;
    return c.json({
      status: "ok",
      version: deps.version,
      broker: deps.broker ?? null,
      rollouts_active: active,
      at: new Date(now()).toISOString(),
    });
  });

  app.get("/api/v1/rollouts", (c) => {
    const fleet = c.req.query("fleet");
    const state = c.req.query("state");
    if (state !== undefined && !(STATES as readonly string[]).includes(state)) {
      throw new RequestInvalidError([
        { path: "state", line: null, message: `one of ${STATES.join(", ")}` },
      ], `Query parameter state="${state}" is not a rollout state (${STATES.join(", ")})`);
    }
    const rollouts = store.listRollouts(fleet === undefined ? {} : { fleet })
      .filter((r) => state === undefined || r.state === state);
    return c.json({ rollouts: rollouts.map((r) => rolloutJson(r, now())) });
  });

  app.get("/api/v1/rollouts/:id", (c) => {
    const id = c.req.param("id");
    const r = store.getRollout(id);
    if (r === null) throw new RolloutNotFoundError(id);
    return c.json({ ...rolloutJson(r, now()), members: store.listMembers(id).map(memberJson) });
  });

  app.post("/api/v1/rollouts", async (c) => {
    const input = rolloutFromBody(await jsonBody(c));
    const r = store.createRollout(input, now());
    deps.onChange?.();
    return c.json(rolloutJson(r, now()), 201, { location: `/api/v1/rollouts/${r.id}` });
  });

  for (const command of COMMANDS) {
    app.post(`/api/v1/rollouts/:id/${command}`, (c) => {
      const r = store.command(c.req.param("id"), command, now());
      deps.onChange?.();
      return c.json(rolloutJson(r, now()));
    });
  }

  app.get("/api/v1/devices", (c) => {
    const fleet = c.req.query("fleet");
    const fleets = fleet === undefined ? store.listDeviceFleets() : [fleet];
    const t = now();
    return c.json({ devices: fleets.flatMap((f) => store.listDevices(f).map((d) => deviceJson(d, t))) });
  });

  app.get("/api/v1/status", (c) => {
    const fleet = c.req.query("fleet");
    const active = c.req.query("active") === "true";
    const rollouts = store.listRollouts({ ...(fleet !== undefined && { fleet }), active });
    const devices = new Map<string, ReturnType<FleetStore["listDevices"]>>();
    const devicesOf = (f: string) => {
      let list = devices.get(f);
      if (list === undefined) devices.set(f, list = store.listDevices(f));
      return list;
    };
    return c.json({
      rollouts: rollouts.map((r) => ({
        id: r.id,
        fleet: r.fleet,
        module: r.module,
        image: r.image,
        state: r.state,
        phase: r.phase,
        phases: r.phases.length,
        reason: r.reason,
        breach: rolloutJson(r, now()).breach,
        skipped: [...r.skipped],
        devices_touched: store.listMembers(r.id).length,
        versions: versionGroups(r, devicesOf(r.fleet)),
      })),
    });
  });
  return app;
}
