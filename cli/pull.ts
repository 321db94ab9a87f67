/**
 * `kiln pull <registry>/<repo>:<tag>[@sha256:...] [--out DIR] [--username U --password-file F] [--ca-file F]
 * [--plain-http]`: downloads a module artifact, checking every digest, and writes the module under the file
 * name it was pushed with (its layer's title, e.g. `fft.wasm`) and, when one is attached, its signature
 * beside it (`fft.wasm.sig`), ready for `kiln verify`.
 *
 * @module
 */
import { parseImageReference, pullModule, RegistryClient } from "../registry/mod.ts";
import { parse, UsageError } from "./_usage.ts";
import { REGISTRY_FLAGS, registryOptions } from "./push.ts";

const SAFE_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,122}\.wasm$/;

/** Writes `bytes` to `path` through a temporary file and a rename, so a reader never sees half a file. */
async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
}

/** Runs `kiln pull`; 0 once the module (and its signature) are written. */
export async function pullCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: { out: { type: "string" }, ...REGISTRY_FLAGS },
    allowPositionals: true,
  });
  if (positionals.length !== 1) {
    throw new UsageError("pull takes one reference REGISTRY/REPO:TAG[@sha256:...]");
  }
  const text = positionals[0]!;
  const ref = parseImageReference(text);
  using client = new RegistryClient(ref.registry, await registryOptions(values));
  const pulled = await pullModule(client, ref);
  // The title comes from the registry: used only when it is a plain file name, else the repository's last part.
  const fileName = pulled.fileName !== null && SAFE_FILE.test(pulled.fileName)
    ? pulled.fileName
    : `${ref.repository.replace(/^.*\//, "")}.wasm`;
  const dir = values.out ?? ".";
  await Deno.mkdir(dir, { recursive: true });
  const wasmPath = `${dir.replace(/\/$/, "")}/${fileName}`;
  await writeAtomic(wasmPath, pulled.wasm);
  const sigPath = `${wasmPath}.sig`;
  if (pulled.signatures[0]) await writeAtomic(sigPath, pulled.signatures[0]);
  else {
    // A bundle left from an earlier pull would belong to another module.
    await Deno.remove(sigPath).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }
  console.log(`Pulled ${text}`);
  console.log(`digest: ${pulled.digest}`);
  console.log(
    `module: ${wasmPath} (${pulled.moduleDigest}, ${pulled.wasm.length} bytes)`,
  );
  console.log(
    pulled.signatures[0]
      ? `signature: ${sigPath} (listed by the ${
        pulled.referrersSource === "api" ? "referrers API" : "referrers tag"
      })`
      : "signature: none (unsigned module)",
  );
  return 0;
}
