/**
 * The fleets that have devices: a query `FleetStore` does not offer (it lists the fleets named by rollouts),
 * answered on a short-lived read-only connection to the same file.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import type { FleetStore } from "../store.ts";

/** Every fleet with a known device or a rollout, sorted. */
export function listDeviceFleets(store: FleetStore): string[] {
  const db = new DatabaseSync(store.path, { readOnly: true });
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    const rows = db.prepare("SELECT DISTINCT fleet FROM devices").all() as { fleet: string }[];
    return [...new Set([...rows.map((r) => String(r.fleet)), ...store.listFleets()])].sort();
  } finally {
    db.close();
  }
}
