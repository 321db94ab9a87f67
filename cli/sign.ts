/**
 * `kiln sign <module.wasm> --key KEY --cert CERT --chain INTERMEDIATE --attest FILE [--name NAME] [--out FILE]`:
 * signs a module with a developer's key into its `.sig` bundle. The attestation file (JSON or YAML) holds
 * `build` and `catalog`; the subject (name and SHA-256) is computed.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { CapabilityError, parseCapability } from "../runtime/capabilities.ts";
import { ModuleNotFoundError } from "../runtime/errors.ts";
import { parseCertificate, pemBlocks, SigningError, signModule } from "../signing/mod.ts";
import { readText } from "./keys.ts";
import { parse, UsageError } from "./_usage.ts";

/** Runs `kiln sign`; 0 on success. */
export async function signCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      key: { type: "string" },
      cert: { type: "string" },
      chain: { type: "string", multiple: true },
      attest: { type: "string" },
      name: { type: "string" },
      out: { type: "string" },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError("sign takes exactly one .wasm file");
  const wasmPath = positionals[0]!;
  for (const flag of ["key", "cert", "attest"] as const) {
    if (!values[flag]) throw new UsageError(`sign needs --${flag} FILE`);
  }
  let wasm: Uint8Array;
  try {
    wasm = await Deno.readFile(wasmPath);
  } catch (err) {
    throw new ModuleNotFoundError(wasmPath, wasmPath, { cause: err });
  }
  const name = values.name ?? wasmPath.replace(/^.*\//, "").replace(/\.wasm$/, "");
  const attestPath = values.attest!;
  const attestText = await readText(attestPath);
  let attestation: unknown;
  try {
    attestation = /\.ya?ml$/i.test(attestPath) ? parseYaml(attestText) : JSON.parse(attestText);
  } catch (err) {
    throw new SigningError(`Cannot read the attestation "${attestPath}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  checkCapabilities(attestation, attestPath);
  const chain = [await readText(values.cert!)];
  for (const path of values.chain ?? []) {
    const certs = pemBlocks(await readText(path)).filter((b) => b.label === "CERTIFICATE");
    if (certs.length === 0) throw new UsageError(`--chain "${path}" holds no PEM certificate`);
    chain.push(...certs.map((b) => b.text));
  }
  const signed = await signModule(wasm, {
    name,
    privateKey: await readText(values.key!),
    certificateChain: chain,
    attestation,
  });
  const out = values.out ?? `${wasmPath}.sig`;
  await Deno.writeTextFile(out, signed.text);
  const signer = parseCertificate(chain[0]!, values.cert!);
  const subject = signed.statement.subject[0]!;
  console.log(
    `signed "${subject.name}" ${signed.statement.predicate.catalog.version} (sha256 ${subject.digest.sha256})\n` +
      `  by ${signer.subject}  ${signer.fingerprint}\n  bundle ${out}`,
  );
  return 0;
}

/** Checks every attested capability parses as the runtime parses a manifest's, naming the first that does not. */
function checkCapabilities(attestation: unknown, source: string): void {
  const capabilities = (attestation as { catalog?: { capabilities?: unknown } } | null)?.catalog
    ?.capabilities;
  if (!Array.isArray(capabilities)) return; // the schema check names what is wrong
  for (const [i, capability] of capabilities.entries()) {
    if (typeof capability !== "string") continue;
    try {
      parseCapability(capability);
    } catch (err) {
      if (err instanceof CapabilityError) {
        throw new SigningError(
          `The attestation "${source}" is invalid: catalog.capabilities[${i}]: ${err.message}`,
        );
      }
      throw err;
    }
  }
}
