/**
 * Imported first by `main.ts`, before any npm package loads: gives Node-style code a `process.env` that
 * holds only Kiln's own variables.
 *
 * Several npm dependencies read the environment as they load: `debug` (under `mqtt` and `modbus-serial`)
 * lists every variable, which Deno allows only with an unrestricted `--allow-env`, and `mqtt` reads
 * `MQTTJS_SOCKS_PROXY` on each connect. `kiln run` narrows `--allow-env` to the variables below, so those
 * reads would fail. With this object in place of `process.env`, they see these variables and nothing else;
 * Deno's own `Deno.env` is untouched and still permission-checked.
 *
 * @module
 */
import process from "node:process";

/** The environment variables Kiln reads; everything else is invisible to `process.env`. */
export const KILN_ENV_VARS: readonly string[] = [
  "KILN_SANDBOXED",
  "KILN_ADMIN_TOKEN",
  "KILN_TOKEN",
  "LOG_TOKENS",
  "LOG_STREAM",
  "NO_COLOR",
  "TMPDIR",
  "TMP",
  "TEMP",
];

const visible: Record<string, string> = {};
for (const name of KILN_ENV_VARS) {
  try {
    const value = Deno.env.get(name);
    if (value !== undefined) visible[name] = value;
  } catch { /* not allowed to read it: invisible */ }
}
(process as { env: Record<string, string> }).env = visible;
