/**
 * `kiln token create|list|revoke`: API tokens in a data directory's store, beside a running runtime or
 * without one. A created token is printed once; only its hash is kept.
 *
 * @module
 */
import {
  createToken,
  listTokens,
  openStore,
  revokeToken,
  type Role,
  ROLES,
  type TokenInfo,
} from "../snapshots/mod.ts";
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
  return tokenSubcommand("token", sub, values, positionals, {
    create: (role, name) => createToken(store.db, { role, name }),
    list: () => listTokens(store.db),
    revoke: (id) => revokeToken(store.db, id),
  });
}

/** A table of API tokens: the gateway's store, or the fleet controller's own file. */
export interface TokenTable {
  /** Creates a token; the returned `token` is the only copy of its secret. */
  create(role: Role, name: string): { token: string; info: TokenInfo };
  /** Every token, oldest first. */
  list(): TokenInfo[];
  /** Revokes a token. @throws {TokenUnknownError} when no active token has that id. */
  revoke(id: number): TokenInfo;
}

/**
 * `create`, `list` or `revoke` (`sub`) on `tokens`, printing as `kiln token` does; `command` names the
 * command in usage errors (`token`, `fleet token`). Returns the exit code.
 *
 * @throws {UsageError} for an unknown subcommand, a missing role or a bad id.
 */
export function tokenSubcommand(
  command: string,
  sub: string | undefined,
  values: { role?: string | undefined; name?: string | undefined; json?: boolean | undefined },
  positionals: readonly string[],
  tokens: TokenTable,
): number {
  switch (sub) {
    case "create": {
      if (positionals.length > 0) throw new UsageError(`${command} create takes only options`);
      const role = values.role;
      if (role === undefined || !(ROLES as readonly string[]).includes(role)) {
        throw new UsageError(`${command} create needs --role, one of ${ROLES.join(", ")}`);
      }
      const { token, info } = tokens.create(role as Role, values.name ?? role);
      if (values.json) console.log(JSON.stringify({ id: info.id, name: info.name, role: info.role, token }));
      else console.log(`token ${info.id} "${info.name}" (${info.role}), shown only now:\n${token}`);
      return 0;
    }
    case "list": {
      const all = tokens.list();
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
        throw new UsageError(`${command} revoke takes one token id (see kiln ${command} list)`);
      }
      const t = tokens.revoke(id);
      console.log(`token ${t.id} "${t.name}" (${t.role}) revoked`);
      return 0;
    }
    default:
      throw new UsageError(`${command} takes create, list or revoke${sub ? `, not "${sub}"` : ""}`);
  }
}
