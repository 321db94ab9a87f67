/**
 * `kiln rollback <module> [--version N]`: asks a running runtime (over its API) to return a module to a
 * version it keeps, code and memory: version N, or without it the one before the version it runs. The
 * versions are listed by `GET /api/v1/modules/<module>/versions` (and `kiln history`).
 *
 * @module
 */
import { parse, UsageError } from "./_usage.ts";
import { apiUrl, DEFAULT_URL, REMOTE_OPTIONS, remoteToken, requestJson, runRemote } from "./_api_client.ts";

/** Runs `kiln rollback`; 0 on success, 1 when the gateway refuses, 3 when it cannot be reached. */
export async function rollbackCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: { ...REMOTE_OPTIONS, version: { type: "string" } },
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
  const url = apiUrl(values.url ?? DEFAULT_URL, `/api/v1/modules/${encodeURIComponent(name)}/rollback`);
  return await runRemote(values.json, async () => {
    const body = await requestJson(url.href, {
      method: "POST",
      token: await remoteToken(values),
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
  });
}
