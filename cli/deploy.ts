/**
 * `kiln deploy <module.wasm> --name N --spec FILE`: deploys a module to a running gateway over its API
 * (`POST /api/v1/modules`, multipart: the module, its manifest entry, its signature and data files) and
 * prints the version and sha256 it runs, or the gateway's refusal: its code, message and each problem of the
 * entry with its path and line in FILE.
 *
 * @module
 */
import { basename } from "node:path";
import { safeJsonStringify } from "../log_text.ts";
import { parse, UsageError } from "./_usage.ts";
import { apiUrl, DEFAULT_URL, REMOTE_OPTIONS, remoteToken, requestJson, runRemote } from "./_api_client.ts";

/** The help lines of `kiln deploy`, for `kiln --help`. */
export const DEPLOY_HELP =
  `  kiln deploy <module.wasm> --name NAME --spec FILE [--sig FILE] [--file PATH]... [--url URL]
             [--token T | --token-file F] [--json]
      Deploy (or replace) a module on a running gateway (admin token): FILE is the module's manifest entry
      (YAML or JSON: schedule, capabilities, limits, params, data); --sig its signature (default
      module.wasm.sig when it exists); --file each data file the entry names. Prints the version and
      sha256, or the refusal's code and every problem with its line in FILE (exit 1).`;

/** Runs `kiln deploy`; 0 once deployed, 1 when refused, 3 when the gateway cannot be reached. */
export function deployCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      ...REMOTE_OPTIONS,
      name: { type: "string" },
      spec: { type: "string" },
      sig: { type: "string" },
      file: { type: "string", multiple: true, default: [] },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError("deploy takes one module file (.wasm)");
  const wasmPath = positionals[0]!;
  if (values.name === undefined) throw new UsageError("deploy needs --name NAME: the module's name");
  if (values.spec === undefined) {
    throw new UsageError(
      `deploy needs --spec FILE: the module's manifest entry, e.g. "schedule: { mode: periodic, period_us: 100000 }"`,
    );
  }
  const name = values.name;
  const base = values.url ?? DEFAULT_URL;
  return runRemote(values.json, async () => {
    const form = new FormData();
    form.set("name", name);
    form.set("spec", await Deno.readTextFile(values.spec!));
    form.set("wasm", new File([await Deno.readFile(wasmPath)], basename(wasmPath)));
    const sig = values.sig ?? await existing(`${wasmPath}.sig`);
    if (sig !== null) form.set("signature", new File([await Deno.readFile(sig)], basename(sig)));
    for (const path of values.file) {
      form.append("data", new File([await Deno.readFile(path)], basename(path)));
    }
    const body = await requestJson(apiUrl(base, "/api/v1/modules").href, {
      method: "POST",
      token: await remoteToken(values),
      form,
      what: `deploy module "${name}" to ${base}`,
    });
    if (values.json) {
      console.log(safeJsonStringify(body, 2));
      return 0;
    }
    const version = body.version_seq === undefined ? "" : ` version ${body.version_seq}`;
    const replaced = typeof body.replaced_sha256 === "string"
      ? `, replacing sha256 ${body.replaced_sha256.slice(0, 12)}`
      : "";
    console.log(`module "${name}": deployed${version}, ${body.state}${replaced}`);
    console.log(`  sha256 ${body.sha256}`);
    if (sig !== null) console.log(`  signature ${sig}`);
    return 0;
  });
}

/** `path` when it exists, else null. */
async function existing(path: string): Promise<string | null> {
  try {
    await Deno.stat(path);
    return path;
  } catch {
    return null;
  }
}
