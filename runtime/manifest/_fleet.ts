/**
 * The manifest's `fleet` section: this gateway is steered by a fleet controller through the MQTT broker of
 * `connectors.mqtt` (`docs/fleet.md`, `runtime/fleet/`).
 *
 * @module
 */
import { z } from "zod";
import { int, strict } from "./_zod.ts";

/** A fleet id or a group name: lowercase letters, digits, `.`, `_` or `-` (one MQTT topic level). */
export const FLEET_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The `fleet` section. */
export const FleetSchema = strict({
  /** The fleet this gateway belongs to: its topics are under `kiln/fleet/<id>/`. */
  id: z.string().regex(FLEET_NAME, "a fleet id must be lowercase letters, digits, . _ or -"),
  /** The groups whose desired states apply to it; a later group wins over an earlier one. */
  groups: z.array(z.string().regex(FLEET_NAME, "a group name must be lowercase letters, digits, . _ or -"))
    .max(32).default([]),
  /** Seconds between two reported states when nothing changes, 1..3600. */
  report_every_s: int(1, 3600).default(10),
});

/** The `fleet` section, parsed. */
export type FleetSpec = z.output<typeof FleetSchema>;

/** Refines the whole manifest: a `fleet` section needs `connectors.mqtt` (the broker it is steered through). */
export function fleetNeedsMqtt(
  m: { fleet?: unknown; connectors: { mqtt?: unknown } },
  ctx: z.RefinementCtx,
): void {
  if (m.fleet !== undefined && m.connectors.mqtt === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["fleet"],
      message: "fleet control needs connectors.mqtt (the broker the desired states come through)",
    });
  }
}
