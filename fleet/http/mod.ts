/**
 * The fleet controller's HTTP API (`kiln fleet serve`, `docs/fleet_api.md`): rollouts, devices and status
 * over HTTP, with the gateway API's roles, error body and JSON style, beside the controller loop in one
 * process.
 *
 * @example
 * ```ts ignore
 * await using server = await startFleetServer({
 *   broker: "mqtt://broker:1883", dataDir: "./data/fleet", hostname: "127.0.0.1", port: 8470,
 *   version: "0.1.0", envToken: null,
 * });
 * // curl -H "Authorization: Bearer $(cat data/fleet/admin.token)" http://127.0.0.1:8470/api/v1/status
 * ```
 *
 * @module
 */
export { createFleetApp, FLEET_MAX_BODY_BYTES, type FleetAppDeps } from "./app.ts";
export { fleetAuthMiddleware, fleetRoleFor } from "./auth.ts";
export { handleFleetError, RequestInvalidError } from "./errors.ts";
export { deviceJson, memberJson, rolloutJson, type VersionGroup, versionGroups } from "./json.ts";
export { FLEET_OPERATIONS, fleetOpenApiDocument } from "./openapi.ts";
export { DEFAULT_CONDITION, rolloutFromBody } from "./rollout_body.ts";
export { type FleetServer, type FleetServerOptions, startFleetServer } from "./serve.ts";
export { FLEET_ADMIN_TOKEN_ENV, fleetAuthenticator, type FleetAuthOptions, FleetTokens } from "./tokens.ts";
