/**
 * Fleet control over MQTT, the gateway's side (`docs/fleet.md`): the agent and the protocol's documents.
 *
 * @module
 */
export { FleetAgent, type FleetAgentOptions } from "./agent.ts";
export {
  type DesiredShadow,
  DesiredShadowSchema,
  DesiredStateSchema,
  type FleetTopics,
  fleetTopics,
  MAX_DESIRED_BYTES,
  mergeDesired,
  mergeShadows,
  type ModuleFigures,
  type ModuleSource,
  parseDesired,
  type ReportedError,
  type ReportedModule,
  type ReportedShadow,
  reportedShadowOf,
  type ReportedState,
} from "./protocol.ts";
export { FleetDesiredInvalidError, FleetRegistryUntrustedError, FleetUnsignedImageError } from "./errors.ts";
