/**
 * `kiln status`: a running gateway's health, its modules (state, invocations, restarts, last error) and its
 * connectors, as a table, or with `--json` as the API gives them (`GET /health`, `/api/v1/modules`,
 * `/api/v1/connectors`).
 *
 * @module
 */
import { escapeText, safeJsonStringify } from "../log_text.ts";
import { parse, UsageError } from "./_usage.ts";
import { apiUrl, DEFAULT_URL, REMOTE_OPTIONS, remoteToken, requestJson, runRemote } from "./_api_client.ts";

/** The help lines of `kiln status`, for `kiln --help`. */
export const STATUS_HELP = `  kiln status [--url URL] [--token T | --token-file F] [--data DIR] [--json]
      A running gateway's health, modules (state, invocations, restarts, last error) and connectors; with
      --json, {"health", "modules", "connectors"} as the API gives them. The gateway's remote commands
      (status, logs, deploy, events, alerts, rollback) talk to URL (default ${DEFAULT_URL}) with the
      token from --token, else --token-file, else $KILN_TOKEN, else DIR/admin.token (DIR default ./data).`;

interface ModuleRow {
  name: string;
  state: string;
  invocations: number;
  restarts: number;
  errors: number;
  last_error: string | null;
}

interface ConnectorRow {
  name: string;
  kind: string;
  state: string;
  errors: number;
  reconnects: number;
  last_error: string | null;
}

/** Runs `kiln status`; 0 on success, 1 when the gateway refuses, 3 when it cannot be reached. */
export function statusCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { options: REMOTE_OPTIONS, allowPositionals: true });
  if (positionals.length > 0) throw new UsageError("status takes no arguments, only options");
  const base = values.url ?? DEFAULT_URL;
  return runRemote(values.json, async () => {
    const token = await remoteToken(values);
    const get = (path: string, what: string) =>
      requestJson(apiUrl(base, path).href, { token, what: `read ${what} of the gateway at ${base}` });
    const health = await get("/health", "the health");
    const modules = (await get("/api/v1/modules", "the modules")).modules as ModuleRow[];
    const connectors = (await get("/api/v1/connectors", "the connectors")).connectors as ConnectorRow[];
    if (values.json) {
      console.log(safeJsonStringify({ health, modules, connectors }, 2));
      return 0;
    }
    const device = health.device as { id: string; location: string | null };
    console.log(
      `gateway ${escapeText(device.id)}${device.location ? ` (${escapeText(device.location)})` : ""}: ` +
        `${health.status}, kiln ${health.version}, up ${formatUptime(health.uptime_s as number)}`,
    );
    console.log("");
    table(
      ["MODULE", "STATE", "INVOCATIONS", "ERRORS", "RESTARTS", "LAST ERROR"],
      modules.map((m) => [
        m.name,
        m.state,
        String(m.invocations),
        String(m.errors),
        String(m.restarts),
        m.last_error === null ? "-" : m.last_error,
      ]),
    );
    if (connectors.length > 0) {
      console.log("");
      table(
        ["CONNECTOR", "KIND", "STATE", "ERRORS", "RECONNECTS", "LAST ERROR"],
        connectors.map((c) => [
          c.name,
          c.kind,
          c.state,
          String(c.errors),
          String(c.reconnects),
          c.last_error === null ? "-" : c.last_error,
        ]),
      );
    }
    return 0;
  });
}

/** Prints rows in columns, every cell escaped (module text cannot break a row); the last column unpadded. */
export function table(header: string[], rows: string[][]): void {
  const cells = [header, ...rows.map((r) => r.map(escapeText))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  for (const r of cells) {
    console.log(r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i]!)).join("  ").trimEnd());
  }
}

/** `3d 4h`, `2h 5m`, `4m 10s` or `12s`. */
function formatUptime(s: number): string {
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  const sec = Math.floor(s) % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${sec}s`;
  return `${sec}s`;
}
