/**
 * `kiln history`: the record of accepted deployments (every deploy, replace, remove, stop, start, rollback and
 * manifest change, with who, when and the module's sha256), read from a data directory's store read-only
 * (beside a running runtime or after it), or with `--url` from a running runtime, which adds how its start
 * resolved the manifest file against the record.
 *
 * @module
 */
import { hasDeploymentRecord, listDeployments, openStore } from "../snapshots/mod.ts";
import { deploymentJson } from "../api/mod.ts";
import { escapeText, safeJsonStringify } from "../log_text.ts";
import { parse, UsageError } from "./_usage.ts";
import { requestJson, tokenFor } from "./_api_client.ts";

/** A row as `deploymentJson` gives it. */
interface Row {
  id: number;
  at: string;
  action: string;
  module: string | null;
  by: string;
  sha256: string | null;
  version_seq: number | null;
  detail: string | null;
}

/** A module's decision at the start, as `GET /api/v1/deployments` gives it. */
interface Decision {
  module: string;
  source: string;
  state: string;
  version_seq: number | null;
  reason: string;
  error: string | null;
}

/** How the start resolved the manifest file, as `GET /api/v1/deployments` gives it. */
interface StartJson {
  manifest_file: string;
  manifest_changed: boolean;
  modules: Decision[];
}

/** Prints the record; 0 on success. */
export async function historyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      data: { type: "string", default: "./data" },
      url: { type: "string" },
      token: { type: "string" },
      module: { type: "string" },
      limit: { type: "string", default: "1000" },
      json: { type: "boolean" },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError("history takes no arguments, only options");
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError("--limit must be a positive integer");
  let rows: Row[];
  let start: StartJson | null = null;
  if (values.url !== undefined) {
    const url = new URL("/api/v1/deployments", values.url.replace(/\/?$/, "/"));
    url.searchParams.set("limit", String(limit));
    if (values.module !== undefined) url.searchParams.set("module", values.module);
    const body = await requestJson(url.href, {
      token: await tokenFor(values.token, values.data),
      what: "read the deployment history",
    });
    rows = body.deployments as Row[];
    start = body.start as StartJson;
  } else {
    const path = `${values.data}/kiln.db`;
    try {
      await Deno.stat(path);
    } catch {
      throw new UsageError(`No Kiln store at "${path}": pass the runtime's --data directory, or --url`);
    }
    using store = openStore(path, { readOnly: true });
    if (!hasDeploymentRecord(store.db)) {
      throw new UsageError(
        `The store "${path}" has no deployment record yet: a kiln run of this version adds it`,
      );
    }
    rows = listDeployments(store.db, {
      limit,
      ...(values.module !== undefined && { module: values.module }),
    }).map(deploymentJson) as unknown as Row[];
  }
  if (values.json) {
    console.log(safeJsonStringify(start ? { start, deployments: rows } : { deployments: rows }, 2));
    return 0;
  }
  if (start) {
    console.log(
      `at this start (${start.manifest_changed ? "the manifest file changed" : "manifest unchanged"}):`,
    );
    for (const d of start.modules) {
      if (values.module !== undefined && d.module !== values.module) continue;
      console.log(
        `  ${d.module}\t${d.state}\tfrom the ${d.source === "api" ? "API" : "manifest file"}` +
          `${d.version_seq === null ? "" : ` v${d.version_seq}`}\t${escapeText(d.reason)}` +
          (d.error ? `\trefused: ${escapeText(d.error)}` : ""),
      );
    }
  }
  // The record: who is a token's name and detail may quote one, escaped so a row stays one row.
  for (const r of rows) {
    console.log(
      [
        `#${r.id}`,
        r.at,
        r.action,
        r.module ?? "(manifest file)",
        `by ${escapeText(r.by)}`,
        r.sha256 === null ? "-" : `sha256 ${r.sha256.slice(0, 12)}`,
        r.version_seq === null ? "-" : `v${r.version_seq}`,
        ...(r.detail ? [escapeText(r.detail)] : []),
      ].join("\t"),
    );
  }
  return 0;
}
