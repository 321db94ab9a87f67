/**
 * `GET /openapi.json`: the API described as OpenAPI 3.1, from one table of operations. A test compares the
 * table with the routes the app really has, so the description cannot drift from the code. The document also
 * states the API's conventions ({@linkcode API_CONVENTIONS}) and its one error body, with the status of each
 * kind of error.
 *
 * @module
 */
import type { Role } from "../snapshots/mod.ts";
import { roleFor } from "./auth.ts";
import { STATUS_BY_KIND } from "./errors.ts";

/** One operation of an API. */
export interface Operation {
  readonly method: "get" | "post" | "delete";
  /** Hono's form, `/api/v1/modules/:name`. */
  readonly path: string;
  readonly summary: string;
  /** The request body: JSON, raw bytes, or a deploy's multipart form. */
  readonly body?: "json" | "bytes" | "multipart";
  /** The success status is 201. */
  readonly created?: boolean;
}

/** What {@linkcode buildOpenApiDocument} describes: an API with Kiln's roles and error body. */
export interface ApiDescription {
  readonly title: string;
  readonly version: string;
  /** Markdown: what the API is, its roles and conventions. */
  readonly description: string;
  readonly operations: readonly Operation[];
  /** The role each operation needs, or null for none. */
  readonly roleFor: (method: string, path: string) => Role | null;
}

/** Every operation, in the order the README lists them. */
export const OPERATIONS: readonly Operation[] = [
  { method: "get", path: "/health", summary: "The runtime's state, uptime, version and module counts" },
  { method: "get", path: "/metrics", summary: "Prometheus metrics (text exposition format 0.0.4)" },
  { method: "get", path: "/api/v1/modules", summary: "Every module's status" },
  {
    method: "post",
    path: "/api/v1/modules",
    summary: "Deploy a module or a new version (multipart: name, spec, wasm, signature, data files)",
    body: "multipart",
    created: true,
  },
  {
    method: "get",
    path: "/api/v1/modules/:name",
    summary: "One module: state, sha256, limits, capabilities, last error, restarts, stats, snapshots",
  },
  { method: "delete", path: "/api/v1/modules/:name", summary: "Stop and forget a deployed module" },
  {
    method: "get",
    path: "/api/v1/modules/:name/versions",
    summary: "The versions it keeps (binary sha256, entry, who, when, its newest snapshot), newest first",
  },
  {
    method: "post",
    path: "/api/v1/modules/:name/rollback",
    summary: 'Return it to a kept version, code and memory: `{"version": N}`, or empty for the previous',
    body: "json",
  },
  { method: "get", path: "/api/v1/modules/:name/outputs", summary: "Its latest outputs and arrays" },
  { method: "get", path: "/api/v1/modules/:name/logs", summary: "Its recent log lines" },
  {
    method: "get",
    path: "/api/v1/modules/:name/history",
    summary:
      "Its recent numeric outputs for charts, `?keys=a,b&seconds=1..300`: per key `{t, v}` (epoch ms, " +
      "one point per 250 ms bucket, null for a non-finite value), each array's latest value, `dropped_keys`",
  },
  {
    method: "get",
    path: "/api/v1/modules/:name/traces",
    summary:
      "Its per-invocation trace events, numbered per module, `?since_seq=SEQ&limit=N` (docs/traces.md)",
  },
  {
    method: "post",
    path: "/api/v1/modules/:name/record",
    summary: 'Record its inputs and effects from its next call: `{"for_s", "invocations", "max_bytes"}` ' +
      "(docs/record_replay.md)",
    body: "json",
    created: true,
  },
  {
    method: "get",
    path: "/api/v1/modules/:name/record",
    summary: "Its recording under way, or its last one",
  },
  {
    method: "get",
    path: "/api/v1/modules/:name/record/trace",
    summary: "Its last finished trace file (application/octet-stream), for `kiln replay`",
  },
  {
    method: "post",
    path: "/api/v1/modules/:name/shadow",
    summary:
      "Run a candidate build beside it, its side effects captured (multipart: wasm, signature, spec, " +
      "tolerance, start: image|init, warmup: invocations; docs/shadow.md)",
    body: "multipart",
    created: true,
  },
  {
    method: "get",
    path: "/api/v1/modules/:name/shadow",
    summary: "Its shadow: matched and diverged invocations, largest difference per output, time per call",
  },
  {
    method: "post",
    path: "/api/v1/modules/:name/shadow/promote",
    summary: "Deploy the shadow's candidate through the deploy path (trial, probation, versions)",
  },
  { method: "delete", path: "/api/v1/modules/:name/shadow", summary: "Drop its shadow" },
  { method: "post", path: "/api/v1/modules/:name/start", summary: "Start it (from its snapshot if any)" },
  {
    method: "post",
    path: "/api/v1/modules/:name/stop",
    summary: "Stop it (after a snapshot if snapshotted)",
  },
  { method: "post", path: "/api/v1/modules/:name/restart", summary: "Stop and start it" },
  {
    method: "post",
    path: "/api/v1/modules/:name/snapshot",
    summary: "Snapshot its memory now",
    created: true,
  },
  {
    method: "post",
    path: "/api/v1/modules/:name/events",
    summary: "Send an event (kind 1) with the body as payload",
    body: "bytes",
  },
  {
    method: "get",
    path: "/api/v1/deployments",
    summary:
      "Every accepted deploy, replace, remove, stop, start, rollback and manifest change (who, when, " +
      "sha256), `?module=NAME&after=ID&limit=N`, and which source won for each module at this start",
  },
  {
    method: "get",
    path: "/api/v1/alerts",
    summary:
      "Alerts of modules and of the runtime (crash, failure, rollback), kept across restarts (the newest " +
      "10,000): `?after=SEQ&module=NAME&severity=warning|critical&acked=true|false`; each with `at` (RFC 3339) " +
      "and `at_ms`, `source`, `acked_at`, `acked_by`",
  },
  {
    method: "post",
    path: "/api/v1/alerts/:seq/ack",
    summary:
      "Acknowledge alert SEQ as the token's name (operator); idempotent, audited (`alert_ack`), pushed on the " +
      "stream's `alerts` as `event: alert_ack`; 404 `alert_not_found`",
  },
  { method: "get", path: "/api/v1/messages", summary: "Messages modules published, `?after=SEQ`" },
  { method: "get", path: "/api/v1/channels", summary: "Channels: records written, dropped, lost per reader" },
  {
    method: "get",
    path: "/api/v1/connectors",
    summary:
      "Connector states: sim, GPIO, Modbus devices, OPC UA endpoints, MQTT, the OTLP trace export; their " +
      "backoff and points",
  },
  { method: "get", path: "/api/v1/uplink", summary: "The MQTT uplink: connection, outbox, forwarder" },
  { method: "get", path: "/api/v1/snapshots", summary: "Snapshots in the store, `?module=NAME`" },
  { method: "get", path: "/api/v1/audit", summary: "Audit events: grants, revocations, denials" },
  { method: "get", path: "/api/v1/audit/uses", summary: "Uses and denials per module and capability" },
  { method: "get", path: "/api/v1/executors", summary: "Executors, their modules and Deno permissions" },
  {
    method: "get",
    path: "/api/v1/gateway",
    summary: "The gateway's own figures: version, uptime, memory, CPU share (~5 s), load average, modules, " +
      "outbox, connectors (also the stream's `gateway` topic, every 2 s)",
  },
  {
    method: "get",
    path: "/api/v1/me",
    summary:
      "The token's name and role, what it may do (`can`: control, deploy, ack, gpio, shadow) and the " +
      "role each of those needs (`needs`)",
  },
  { method: "get", path: "/api/v1/sandbox", summary: "What the runtime process and executors may do" },
  { method: "get", path: "/api/v1/sim/sensors", summary: "The simulated sensors and their faults" },
  {
    method: "post",
    path: "/api/v1/sim/sensors/:id/fault",
    summary: 'Inject or clear a fault: `{"fault": "bearing"}`',
    body: "json",
  },
  {
    method: "get",
    path: "/api/v1/sim/gpio",
    summary: "The GPIO bank's pins: the simulated bank, or the Linux lines of connectors.gpio",
  },
  {
    method: "post",
    path: "/api/v1/sim/gpio/:pin",
    summary: 'Set an input pin of the simulated bank: `{"value": 1}`',
    body: "json",
  },
  {
    method: "get",
    path: "/api/v1/stream",
    summary: "WebSocket upgrade: live frames `{seq, topic, at, data}`; auth by header or first message",
  },
  { method: "get", path: "/openapi.json", summary: "This description" },
];

/**
 * The conventions every body follows, as the document's description says them. A test walks every route's
 * JSON (and the stream's frames) and fails on a camelCase key.
 */
export const API_CONVENTIONS = [
  "Keys are snake_case in every JSON body, request and response, in query parameters and in the stream's " +
  "frames; keys a module or a manifest chooses (a module's outputs and arrays, `account.limits`, " +
  "`policy.limits.max_limits`) are data and kept as given. This document's own keys follow OpenAPI.",
  "Instants are RFC 3339 strings in UTC with milliseconds, e.g. `2025-01-01T00:00:00.000Z` (`at`, " +
  "`started_at`, `taken_at`, `last_at`, `changed_at`, `next_attempt_at`); null when there is none. There are " +
  "no epoch numbers but a chart's points (`now` and `t` of `GET /api/v1/modules/{name}/history`, epoch ms) " +
  "and `at_ms` beside an alert's `at`: a span a client needs is given as one, its unit in its key " +
  "(`uptime_s`, `start_ms`, `oldest_age_ms`, `backoff_ms`, `avg_us`).",
  'Every non-2xx JSON answer is `{ "error": { "code", "message", "issues"? } }`: `code` is stable, ' +
  "`message` is for people, and `issues` lists every problem of a refused manifest or module (`path`, " +
  "`line` in the text sent or null, `message`; a policy limit adds `code`, `limit`, `requested`, " +
  "`allowed`). The status follows the error's kind: " +
  Object.entries(STATUS_BY_KIND).map(([kind, status]) => `${kind} ${status}`).join(", ") + ".",
] as const;

/** The OpenAPI 3.1 document of this API. */
export function openApiDocument(version: string): Record<string, unknown> {
  return buildOpenApiDocument({
    title: "Kiln",
    version,
    description: "A WebAssembly edge runtime's control plane. Roles: viewer reads, operator controls " +
      "modules and the simulated plant, admin deploys, deletes and rolls back. `x-kiln-role` names the role each " +
      "operation needs.\n\n" + API_CONVENTIONS.map((c) => `- ${c}`).join("\n"),
    operations: OPERATIONS,
    roleFor,
  });
}

/**
 * An OpenAPI 3.1 document from a table of operations, with bearer security, `x-kiln-role` per operation and
 * the one error body (`Error`, `Issue`) every Kiln API answers with; the gateway's and the fleet controller's.
 */
export function buildOpenApiDocument(api: ApiDescription): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of api.operations) {
    const path = op.path.replace(/:([a-z]+)/g, "{$1}");
    const role = api.roleFor(op.method.toUpperCase(), op.path);
    const params = [...op.path.matchAll(/:([a-z]+)/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    paths[path] ??= {};
    paths[path][op.method] = {
      summary: op.summary,
      ...(params.length > 0 && { parameters: params }),
      ...(role === null ? { security: [] } : { "x-kiln-role": role }),
      ...(op.body && { requestBody: requestBody(op.body) }),
      responses: {
        [op.created ? "201" : "200"]: { description: "Success" },
        ...(role !== null && {
          "401": { $ref: "#/components/responses/Error" },
          "403": { $ref: "#/components/responses/Error" },
        }),
        "4XX": { $ref: "#/components/responses/Error" },
        "5XX": { $ref: "#/components/responses/Error" },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: api.title, version: api.version, description: api.description },
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      responses: {
        Error: {
          description: "An error: a stable code and a message for people; the status follows its kind",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: {
                code: { type: "string", description: "Stable, e.g. `module_unknown`, `manifest_invalid`" },
                message: { type: "string", description: "For people: what failed and why" },
                issues: {
                  type: "array",
                  description: "Every problem found, for refusals that list several (a manifest, a module)",
                  items: { $ref: "#/components/schemas/Issue" },
                },
              },
            },
          },
          "x-kiln-status-by-kind": STATUS_BY_KIND,
        },
        Issue: {
          type: "object",
          required: ["path", "line", "message"],
          properties: {
            path: {
              type: "string",
              description: "e.g. `modules.extra.capabilities[0]`; empty for the document",
            },
            line: {
              type: ["integer", "null"],
              description: "1-based line in the text sent (a deploy's `spec`), or null when unknown",
            },
            column: { type: "integer" },
            message: { type: "string" },
            code: { type: "string", enum: ["policy_limit_exceeded", "realtime_not_granted"] },
            limit: { type: "string", description: "e.g. `policy.max_budget_us`" },
            requested: { type: ["number", "string"] },
            allowed: { type: ["number", "string"] },
          },
        },
      },
    },
  };
}

function requestBody(kind: NonNullable<Operation["body"]>): Record<string, unknown> {
  if (kind === "bytes") return { content: { "application/octet-stream": { schema: { type: "string" } } } };
  if (kind === "json") return { content: { "application/json": { schema: { type: "object" } } } };
  return {
    required: true,
    content: {
      "multipart/form-data": {
        schema: {
          type: "object",
          required: ["name", "spec", "wasm"],
          properties: {
            name: { type: "string" },
            spec: { type: "string", description: "The module's manifest entry, YAML or JSON" },
            wasm: { type: "string", format: "binary" },
            signature: {
              type: "string",
              format: "binary",
              description:
                "Its signature bundle (kiln sign's .sig); required where signatures: { mode: required }",
            },
          },
          additionalProperties: { type: "string", format: "binary", description: "Data blobs by file name" },
        },
      },
    },
  };
}
