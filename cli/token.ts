/**
 * `kiln token create|list|revoke`: API tokens in a data directory's store, beside a running runtime or
 * without one. A created token is printed once; only its hash is kept.
 *
 * @module
 */
import { createToken, listTokens, openStore, revokeToken, type Role, ROLES } from "../snapshots/mod.ts";
import { parse, UsageError } from "./_usage.ts";

/** Runs `kiln token`; 0 on success. */
export async function tokenCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, {
    options: {
      data: { type: "string", default: "./data" },
      role: { type: "string" },
      name: { type: "string" },
      json: { type: "boolean" },
    },
    allowPositionals: true,
  });
  const path = `${values.data}/kiln.db`;
  if (sub !== "create") {
    try {
      await Deno.stat(path);
    } catch {
      throw new UsageError(`No Kiln store at "${path}": pass the runtime's --data directory`);
    }
  } else await Deno.mkdir(values.data, { recursive: true });
  using store = openStore(path);
  switch (sub) {
    case "create": {
      if (positionals.length > 0) throw new UsageError("token create takes only options");
      const role = values.role;
      if (role === undefined || !(ROLES as readonly string[]).includes(role)) {
        throw new UsageError(`token create needs --role, one of ${ROLES.join(", ")}`);
      }
      const { token, info } = createToken(store.db, { role: role as Role, name: values.name ?? role });
      if (values.json) console.log(JSON.stringify({ id: info.id, name: info.name, role: info.role, token }));
      else console.log(`token ${info.id} "${info.name}" (${info.role}), shown only now:\n${token}`);
      return 0;
    }
    case "list": {
      const all = listTokens(store.db);
      if (values.json) console.log(JSON.stringify(all, null, 2));
      else {
        for (const t of all) {
          console.log(
            `${t.id}\t${t.role}\t${t.name}\tcreated ${t.createdAt}\t` +
              (t.revokedAt ? `revoked ${t.revokedAt}` : `last used ${t.lastUsedAt ?? "never"}`),
          );
        }
      }
      return 0;
    }
    case "revoke": {
      const id = Number(positionals[0]);
      if (positionals.length !== 1 || !Number.isInteger(id) || id < 1) {
        throw new UsageError("token revoke takes one token id (see kiln token list)");
      }
      const t = revokeToken(store.db, id);
      console.log(`token ${t.id} "${t.name}" (${t.role}) revoked`);
      return 0;
    }
    default:
      throw new UsageError(`token takes create, list or revoke${sub ? `, not "${sub}"` : ""}`);
  }
}
