/**
 * `GET /openapi.json` of the controller's API: OpenAPI 3.1 from one table of operations, as the gateway's
 * (`api/openapi.ts`). A test compares the table with the routes the app really has.
 *
 * @module
 */
import { STATUS_BY_KIND } from "../../api/errors.ts";
import { buildOpenApiDocument, type Operation } from "../../api/openapi.ts";
import { fleetRoleFor } from "./auth.ts";

/** Every operation, in the order `docs/fleet_api.md` lists them. */
export const FLEET_OPERATIONS: readonly Operation[] = [
  { method: "get", path: "/", summary: "The API's name and endpoints" },
  { method: "get", path: "/health", summary: "The controller's state, version, broker, active rollouts" },
  { method: "get", path: "/openapi.json", summary: "This description" },
  { method: "get", path: "/api/v1/rollouts", summary: "Every rollout, oldest first, `?fleet=F&state=S`" },
  {
    method: "get",
    path: "/api/v1/rollouts/:id",
    summary: "One rollout with the devices it touched (`members`) and its breach",
  },
  {
    method: "post",
    path: "/api/v1/rollouts",
    summary: "Start a rollout: fleet, module, pinned image, spec, phases, target, condition, offline grace",
    body: "json",
    created: true,
  },
  { method: "post", path: "/api/v1/rollouts/:id/pause", summary: "Pause a running rollout" },
  { method: "post", path: "/api/v1/rollouts/:id/resume", summary: "Resume a paused rollout" },
  {
    method: "post",
    path: "/api/v1/rollouts/:id/approve",
    summary: "Approve the phase a rollout awaits approval for",
  },
  {
    method: "post",
    path: "/api/v1/rollouts/:id/abort",
    summary: "Abort a rollout: every device it touched is rolled back",
  },
  {
    method: "get",
    path: "/api/v1/devices",
    summary: "Devices from their reports: groups, hardware, online, last seen, modules, `?fleet=F`",
  },
  {
    method: "get",
    path: "/api/v1/status",
    summary: "Per rollout, its fleet's devices by version, state and presence, `?fleet=F&active=true`",
  },
];

/** The OpenAPI 3.1 document of the controller's API. */
export function fleetOpenApiDocument(version: string): Record<string, unknown> {
  return buildOpenApiDocument({
    title: "Kiln fleet controller",
    version,
    description: "Rollouts of module images to gateways steered over MQTT (docs/fleet_api.md). Roles: " +
      "viewer reads, operator creates and steers rollouts, admin manages tokens; `x-kiln-role` names the " +
      "role each operation needs. Keys are snake_case; instants RFC 3339 in UTC; spans name their unit " +
      '(`observed_ms`). Every non-2xx JSON answer is `{ "error": { "code", "message", "issues"? } }`, ' +
      "`issues` naming each path of a refused body; the status follows the error's kind: " +
      Object.entries(STATUS_BY_KIND).map(([kind, status]) => `${kind} ${status}`).join(", ") + ".",
    operations: FLEET_OPERATIONS,
    roleFor: fleetRoleFor,
  });
}
