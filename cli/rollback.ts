/**
 * `kiln rollback <module> [--version N]`: asks a running runtime (over its API) to return a module to a
 * version it keeps, code and memory: version N, or without it the one before the version it runs. The
 * versions are listed by `GET /api/v1/modules/<module>/versions` (and `kiln history`).
 *
 * @module
 */
import { DEFAULT_LISTEN } from "../runtime/manifest/mod.ts";
import { parse, UsageError } from "./_usage.ts";
import { requestJson, tokenFor } from "./_api_client.ts";

/** Runs `kiln rollback`; 0 on success. */
export async function rollbackCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      url: { type: "string", default: `http://${DEFAULT_LISTEN}` },
      token: { type: "string" },
      data: { type: "string", default: "./data" },
      version: { type: "string" },
      json: { type: "boolean" },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError("rollback takes one module name");
  const name = positionals[0]!;
  let version: number | undefined;
  if (values.version !== undefined) {
    version = Number(values.version);
    if (!Number.isInteger(version) || version < 1) {
      throw new UsageError(`--version must be a version number from 1, got "${values.version}"`);
    }
  }
  const url = new URL(
    `/api/v1/modules/${encodeURIComponent(name)}/rollback`,
    values.url.replace(/\/?$/, "/"),
  );
  const body = await requestJson(url.href, {
    method: "POST",
    token: await tokenFor(values.token, values.data),
    body: version === undefined ? {} : { version },
    what: `roll back module "${name}"`,
  });
  if (values.json) console.log(JSON.stringify(body, null, 2));
  else {
    const from = body.rolled_back_from === null ? "" : ` from version ${body.rolled_back_from}`;
    console.log(
      `module "${name}": rolled back to version ${body.version_seq}${from} ` +
        `(sha256 ${String(body.sha256).slice(0, 12)}), ${body.state}`,
    );
  }
  return 0;
}
