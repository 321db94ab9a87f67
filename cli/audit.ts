/**
 * `kiln audit`: reads the audit log of a data directory, beside a running runtime or after it.
 *
 * @module
 */
import { AuditLog, openStore } from "../snapshots/mod.ts";
import { parse, UsageError } from "./_usage.ts";
import { escapeText, safeJsonStringify } from "../log_text.ts";

const KINDS = ["grant", "revoke", "denial", "signature", "alert_ack"] as const;

/**
 * Prints audit events (or, with `--uses`, capability use counts); 0 on success. The module text in them is
 * shown escaped (see `../log_text.ts`).
 */
export async function auditCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      data: { type: "string", default: "./data" },
      module: { type: "string" },
      kind: { type: "string" },
      limit: { type: "string", default: "100" },
      uses: { type: "boolean" },
      json: { type: "boolean" },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError("audit takes no arguments, only options");
  if (values.kind !== undefined && !(KINDS as readonly string[]).includes(values.kind)) {
    throw new UsageError(`--kind must be one of ${KINDS.join(", ")}, got "${values.kind}"`);
  }
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive integer`);
  const path = `${values.data}/kiln.db`;
  try {
    await Deno.stat(path);
  } catch {
    throw new UsageError(`No Kiln store at "${path}": pass the runtime's --data directory`);
  }
  using store = openStore(path, { readOnly: true });
  const audit = new AuditLog(store);
  if (values.uses) {
    const uses = audit.listUses(values.module);
    if (values.json) console.log(safeJsonStringify(uses, 2));
    else {for (const u of uses) {
        console.log(`${u.module}\t${escapeText(u.capability)}\tuses ${u.uses}\tdenials ${u.denials}`);
      }}
    return 0;
  }
  const events = audit.listEvents({
    limit,
    ...(values.module !== undefined && { module: values.module }),
    ...(values.kind !== undefined && { kind: values.kind as (typeof KINDS)[number] }),
  });
  if (values.json) console.log(safeJsonStringify(events, 2));
  else {
    // A denial's detail and capability hold what the module asked for (a topic): escaped, so a row stays
    // one row and its columns stay its own.
    for (const e of events) {
      console.log(
        `${e.at}\t${e.module}\t${e.kind}\t${escapeText(e.capability)}${
          e.detail ? `\t${escapeText(e.detail)}` : ""
        }`,
      );
    }
  }
  return 0;
}
