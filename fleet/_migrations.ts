/**
 * The fleet store's schema migrations, in order; migration N brings the schema to version N. Kept inline
 * (not `.sql` files as in `snapshots/`) so the controller needs no file beside it in a bundle.
 *
 * @module
 */

/** Every migration, its name and SQL. */
export const FLEET_MIGRATIONS: readonly { readonly name: string; readonly sql: string }[] = [
  {
    name: "001_rollouts",
    sql: `
CREATE TABLE rollouts (
  id TEXT PRIMARY KEY,
  fleet TEXT NOT NULL,
  module TEXT NOT NULL,
  image TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  target_json TEXT NOT NULL,
  phases_json TEXT NOT NULL,
  condition TEXT NOT NULL,
  state TEXT NOT NULL,
  phase INTEGER NOT NULL,
  approved_phase INTEGER NOT NULL,
  observe_since_ms INTEGER,
  reason TEXT,
  breach_json TEXT,
  skipped_json TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  revision INTEGER NOT NULL
);
CREATE INDEX rollouts_state ON rollouts (state);
CREATE TABLE rollout_devices (
  rollout_id TEXT NOT NULL REFERENCES rollouts (id),
  device TEXT NOT NULL,
  phase INTEGER NOT NULL,
  previous_json TEXT NOT NULL,
  status TEXT NOT NULL,
  joined_ms INTEGER NOT NULL,
  rev INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, device)
);
CREATE TABLE devices (
  fleet TEXT NOT NULL,
  id TEXT NOT NULL,
  groups_json TEXT NOT NULL,
  hardware TEXT,
  last_seen_ms INTEGER NOT NULL,
  online INTEGER NOT NULL,
  reported_json TEXT NOT NULL,
  PRIMARY KEY (fleet, id)
);
CREATE TABLE published (
  fleet TEXT NOT NULL,
  device TEXT NOT NULL,
  doc_json TEXT NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (fleet, device)
);`,
  },
  {
    // Rollouts stored before it wait for every device (null), as they did.
    name: "002_offline_grace",
    sql: "ALTER TABLE rollouts ADD COLUMN offline_grace_s INTEGER;",
  },
  {
    // Members stored before it deployed the new version itself (no shadow phases existed).
    name: "003_shadow_members",
    sql: "ALTER TABLE rollout_devices ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;",
  },
];
