/**
 * `kiln push <module.wasm> <registry>/<repo>:<tag> [--sig FILE] [--username U --password-file F]
 * [--ca-file F] [--plain-http]`: uploads a module as an OCI artifact (CNCF Wasm layout) and attaches its
 * signature bundle as a referrer. Also the registry flags `kiln pull` shares.
 *
 * @module
 */
import {
  type ModuleCatalog,
  parseImageReference,
  pushModule,
  RegistryClient,
  type RegistryClientOptions,
} from "../registry/mod.ts";
import { readBundle, SignatureError, validateStatement } from "../signing/mod.ts";
import { ModuleNotFoundError } from "../runtime/errors.ts";
import { parse, UsageError } from "./_usage.ts";

/** The flags `kiln push` and `kiln pull` share to reach a registry. */
export const REGISTRY_FLAGS = {
  username: { type: "string" },
  "password-file": { type: "string" },
  "ca-file": { type: "string" },
  "plain-http": { type: "boolean" },
  "timeout-ms": { type: "string" },
} as const;

/**
 * Client options from the shared registry flags: the password is read from a file (never the command
 * line, where `ps` shows it), the CA from a PEM file.
 * @throws {UsageError} on a username without a password file or the reverse, or a bad timeout
 */
export async function registryOptions(values: {
  username?: string | undefined;
  "password-file"?: string | undefined;
  "ca-file"?: string | undefined;
  "plain-http"?: boolean | undefined;
  "timeout-ms"?: string | undefined;
}): Promise<RegistryClientOptions> {
  const user = values.username;
  const passwordFile = values["password-file"];
  if ((user === undefined) !== (passwordFile === undefined)) {
    throw new UsageError("--username and --password-file go together");
  }
  const timeout = values["timeout-ms"];
  if (timeout !== undefined && !/^[1-9]\d{2,6}$/.test(timeout)) {
    throw new UsageError(`--timeout-ms takes a whole number of milliseconds (100 or more), not "${timeout}"`);
  }
  const password = passwordFile === undefined
    ? null
    : (await Deno.readTextFile(passwordFile)).replace(/\r?\n$/, "");
  return {
    plainHttp: values["plain-http"] ?? false,
    credentials: user === undefined || password === null ? null : { username: user, password },
    caCerts: values["ca-file"] === undefined ? [] : [await Deno.readTextFile(values["ca-file"])],
    ...(timeout !== undefined && { timeoutMs: Number(timeout) }),
  };
}

/**
 * The catalog a signature bundle signs, after checking that it signs `wasm` (so a wrong `.sig` is never
 * pushed or bundled); `verb` ends the refusal ("refusing to <verb> it").
 *
 * @throws {SignatureError} when the bundle is malformed or signs another module.
 */
export async function signedCatalog(
  bundle: Uint8Array,
  wasm: Uint8Array,
  name: string,
  verb = "push",
): Promise<ModuleCatalog> {
  const { payload } = readBundle(bundle, name);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    throw new SignatureError("malformed", name, "the bundle's payload is not JSON");
  }
  const statement = validateStatement(json);
  if (!statement.ok) throw new SignatureError("malformed", name, statement.problem);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", wasm as Uint8Array<ArrayBuffer>));
  const sha256 = Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
  if (!statement.value.subject.some((s) => s.digest.sha256 === sha256)) {
    throw new SignatureError(
      "digest_mismatch",
      name,
      `the signature does not sign this module (sha256 ${sha256}): refusing to ${verb} it`,
    );
  }
  return statement.value.predicate.catalog;
}

/** Runs `kiln push`; 0 once the module (and its signature) are in the registry. */
export async function pushCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: { sig: { type: "string" }, ...REGISTRY_FLAGS },
    allowPositionals: true,
  });
  if (positionals.length !== 2) {
    throw new UsageError("push takes a .wasm file and a reference REGISTRY/REPO:TAG");
  }
  const [wasmPath, text] = positionals as [string, string];
  const ref = parseImageReference(text);
  if (ref.tag === null || ref.digest !== null) {
    throw new UsageError(
      `push takes a reference with a tag and no digest, e.g. "${ref.registry}/${ref.repository}:1.0.0"`,
    );
  }
  let wasm: Uint8Array;
  try {
    wasm = await Deno.readFile(wasmPath);
  } catch (err) {
    throw new ModuleNotFoundError(wasmPath, wasmPath, { cause: err });
  }
  const fileName = wasmPath.replace(/^.*\//, "");
  const name = fileName.replace(/\.wasm$/, "");
  const sigPath = values.sig ?? `${wasmPath}.sig`;
  let signature: Uint8Array | null = null;
  try {
    signature = await Deno.readFile(sigPath);
  } catch (err) {
    // No bundle beside the module: pushed unsigned. An explicit --sig that is missing is a mistake.
    if (!(err instanceof Deno.errors.NotFound) || values.sig !== undefined) throw err;
  }
  const catalog = signature === null ? null : await signedCatalog(signature, wasm, name);
  using client = new RegistryClient(ref.registry, await registryOptions(values));
  const pushed = await pushModule(client, { repository: ref.repository, tag: ref.tag }, {
    wasm,
    fileName,
    signature,
    catalog,
  });
  console.log(`Pushed ${text}`);
  console.log(`digest: ${pushed.digest}`);
  if (pushed.signatureDigest === null) console.log("signature: none (unsigned module)");
  else {
    console.log(
      `signature: ${pushed.signatureDigest} (from ${sigPath}; ` +
        `${pushed.referrersApi ? "referrers API and " : ""}tag ${pushed.referrersTag})`,
    );
  }
  return 0;
}
