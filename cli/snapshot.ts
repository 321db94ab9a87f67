/**
 * `kiln snapshot <module>`: asks a running runtime (over its API) to snapshot a module now.
 * `kiln snapshot --list`: lists the snapshots in a data directory, beside a running runtime or after it.
 *
 * @module
 */
import { DEFAULT_LISTEN } from "../runtime/manifest/mod.ts";
import { listSnapshots, openStore, type SnapshotInfo } from "../snapshots/mod.ts";
import { parse, UsageError } from "./_usage.ts";
import { KilnError } from "../errors.ts";
import { snapshotJson } from "../api/mod.ts";

/** The runtime answered a snapshot request with an error, or could not be reached. */
export class SnapshotRequestError extends KilnError {
  readonly code = "snapshot_request_failed";
  readonly kind = "failed";
}

/** Runs `kiln snapshot`; 0 on success. */
export async function snapshotCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      url: { type: "string", default: `http://${DEFAULT_LISTEN}` },
      list: { type: "boolean" },
      data: { type: "string", default: "./data" },
      json: { type: "boolean" },
      token: { type: "string" },
    },
    allowPositionals: true,
  });
  if (values.list) {
    if (positionals.length > 1) throw new UsageError("snapshot --list takes at most one module name");
    return await list(values.data, positionals[0], values.json ?? false);
  }
  if (positionals.length !== 1) throw new UsageError("snapshot takes one module name, or --list");
  const name = positionals[0]!;
  const url = `${values.url.replace(/\/$/, "")}/api/v1/modules/${encodeURIComponent(name)}/snapshot`;
  const token = values.token ?? envToken() ?? await fileToken(`${values.data}/admin.token`);
  let res: Response;
  try {
    res = await fetch(url, { method: "POST", headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch (err) {
    throw new SnapshotRequestError(`Cannot reach the runtime at ${values.url}: ${(err as Error).message}`);
  }
  const body = await res.json().catch(() => null) as Record<string, unknown> | null;
  if (!res.ok) {
    // The API's error body: { "error": { "code", "message" } }.
    const error = body?.error as { code?: unknown; message?: unknown } | undefined;
    const why = typeof error?.message === "string"
      ? `${error.message} (${error.code})`
      : `HTTP ${res.status}`;
    throw new SnapshotRequestError(`The runtime refused the snapshot of "${name}": ${why}`);
  }
  if (values.json) console.log(JSON.stringify(body, null, 2));
  else {
    console.log(
      `snapshot ${body?.seq} of module "${name}": ${kib(Number(body?.memory_bytes))} KiB of memory, ` +
        `${kib(Number(body?.stored_bytes))} KiB stored`,
    );
  }
  return 0;
}

function envToken(): string | null {
  try {
    return Deno.env.get("KILN_TOKEN") ?? null;
  } catch {
    return null; // no permission to read it
  }
}

async function fileToken(path: string): Promise<string | null> {
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch {
    return null;
  }
}

async function list(data: string, module: string | undefined, json: boolean): Promise<number> {
  const path = `${data}/kiln.db`;
  try {
    await Deno.stat(path);
  } catch {
    throw new UsageError(`No Kiln store at "${path}": pass the runtime's --data directory`);
  }
  using store = openStore(path, { readOnly: true });
  const all: SnapshotInfo[] = listSnapshots(store.db, module);
  if (json) console.log(JSON.stringify(all.map(snapshotJson), null, 2));
  else {
    for (const s of all) {
      console.log(
        `${s.module}\t#${s.seq}\t${new Date(s.takenAtMs).toISOString()}\t${s.reason}\t` +
          `${kib(s.memoryBytes)} KiB memory\t${kib(s.storedBytes)} KiB stored`,
      );
    }
  }
  return 0;
}

function kib(bytes: number): string {
  return (bytes / 1024).toFixed(0);
}
