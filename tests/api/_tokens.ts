/**
 * One token of each role in a store, for the API tests that check what each role may do.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { createToken } from "../../snapshots/mod.ts";

/** A viewer ("wall"), an operator ("shift") and an admin ("root") token, created in `db`. */
export function roleTokens(db: DatabaseSync): { viewer: string; operator: string; admin: string } {
  return {
    viewer: createToken(db, { role: "viewer", name: "wall" }).token,
    operator: createToken(db, { role: "operator", name: "shift" }).token,
    admin: createToken(db, { role: "admin", name: "root" }).token,
  };
}
