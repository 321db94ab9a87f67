/**
 * The schema migrations, in order; migration N brings the schema to version N. Read on first use: from the
 * copies a bundle carries (`embed/`), else from `migrations/NNN_name.sql`. The path goes through
 * `../snapshots/` so it resolves both from this file and from a bundle in `dist/`; `deno compile` embeds
 * the folder with `--include`.
 *
 * @module
 */
import { getEmbedded } from "../embed/mod.ts";

const NAMES = [
  "001_audit",
  "002_snapshots",
  "003_outbox",
  "004_tokens",
  "005_outbox_owners",
  "006_deployments",
  "007_audit_signatures",
  "008_image_refs",
  "009_alerts",
] as const;

let cache: { name: string; sql: string }[] | null = null;

/** Every migration, its name and SQL. */
export function migrations(): readonly { name: string; sql: string }[] {
  cache ??= NAMES.map((name) => {
    const embedded = getEmbedded(`snapshots/migrations/${name}.sql`);
    return {
      name,
      sql: embedded === null
        ? Deno.readTextFileSync(new URL(`../snapshots/migrations/${name}.sql`, import.meta.url))
        : new TextDecoder().decode(embedded),
    };
  });
  return cache;
}
