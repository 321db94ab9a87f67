/**
 * `kiln verify <module.wasm> [--sig FILE] --trust ROOT.pem [--crl FILE]... [--hardware TAG]
 * [--runtime-version V]`: verifies a module's signature as a gateway would and prints the signer, the chain
 * and the attestation (exit 0), or the named failure (exit 1).
 *
 * @module
 */
import { capabilityTextCovers } from "../runtime/capabilities.ts";
import { ModuleNotFoundError } from "../runtime/errors.ts";
import { loadTrustStore, type VerifiedModule, verifyModule } from "../signing/mod.ts";
import { parse, UsageError } from "./_usage.ts";

/** Runs `kiln verify`; 0 when the signature verifies. `version` is this Kiln's, the default runtime version. */
export async function verifyCommand(args: string[], version: string): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      sig: { type: "string" },
      trust: { type: "string", multiple: true },
      crl: { type: "string", multiple: true },
      "require-crls": { type: "boolean" },
      name: { type: "string" },
      hardware: { type: "string" },
      "runtime-version": { type: "string" },
      "installed-version": { type: "string" },
      capability: { type: "string", multiple: true },
      "max-memory-mb": { type: "string" },
      at: { type: "string" },
      json: { type: "boolean" },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError("verify takes exactly one .wasm file");
  if (!values.trust?.length) {
    throw new UsageError("verify needs --trust ROOT.pem (the root certificate(s) to trust)");
  }
  const wasmPath = positionals[0]!;
  let wasm: Uint8Array;
  try {
    wasm = await Deno.readFile(wasmPath);
  } catch (err) {
    throw new ModuleNotFoundError(wasmPath, wasmPath, { cause: err });
  }
  const sigPath = values.sig ?? `${wasmPath}.sig`;
  let bundle: Uint8Array | null = null;
  try {
    bundle = await Deno.readFile(sigPath);
  } catch (err) {
    // No bundle is a verdict (unsigned), not a usage error; an explicit --sig that is missing is a mistake.
    if (!(err instanceof Deno.errors.NotFound) || values.sig !== undefined) throw err;
  }
  const now = values.at === undefined ? new Date() : new Date(values.at);
  if (Number.isNaN(now.getTime())) throw new UsageError(`--at takes an ISO 8601 time, not "${values.at}"`);
  const memory = values["max-memory-mb"];
  if (memory !== undefined && !/^[1-9]\d{0,5}$/.test(memory)) {
    throw new UsageError(`--max-memory-mb takes a whole number of MiB, not "${memory}"`);
  }
  const runtimeVersion = values["runtime-version"] ?? version;
  const trust = await loadTrustStore({
    roots: values.trust,
    crls: values.crl ?? [],
    requireCrls: values["require-crls"] ?? false,
  });
  const verified = await verifyModule(wasm, bundle, {
    trust,
    now,
    moduleName: values.name ?? wasmPath.replace(/^.*\//, "").replace(/\.wasm$/, ""),
    gateway: { hardware: values.hardware ?? null, runtimeVersion },
    required: values.capability || memory
      ? { capabilities: values.capability ?? [], maxMemoryMb: memory ? Number(memory) : 0 }
      : null,
    covers: capabilityTextCovers,
    installedVersion: values["installed-version"] ?? null,
  });
  if (values.json) console.log(JSON.stringify(verified, null, 2));
  else console.log(formatVerified(wasmPath, verified, { hardware: values.hardware ?? null, runtimeVersion }));
  return 0;
}

/** The human-readable report of a verified module. */
function formatVerified(
  path: string,
  v: VerifiedModule,
  checked: { hardware: string | null; runtimeVersion: string },
): string {
  const { build, catalog } = v.attestation;
  const pad = (s: string) => s.padEnd(12);
  const lines = [
    `${path}: signature verified`,
    `  ${pad("module")}${v.name} ${v.version}  sha256 ${v.sha256}`,
    `  ${pad("signer")}${v.signer.subject}  ${v.signer.fingerprint}  serial ${v.signer.serial}  ` +
    `valid until ${v.signer.validTo.toISOString()}`,
    ...v.chain.map((c, i) =>
      `  ${pad(i === 0 ? "chain" : "")}${i === 0 ? "" : "<- "}${c.subject}  ${c.fingerprint}` +
      (i === v.chain.length - 1 ? "  (trusted root)" : "")
    ),
    `  ${pad("revocation")}${
      v.crlsChecked > 0
        ? `${v.crlsChecked} CRL(s) of the chain's CAs checked`
        : "not checked (no CRL of the chain's CAs given)"
    }`,
    `  ${pad("build")}${build.compiler}, ${build.wasm_backend}, ${build.source_repository} @ ${build.commit}`,
    `  ${pad("")}attestation ${build.attestation_url}`,
    `  ${pad("catalog")}hardware ${
      catalog.hardware.join(", ")
    }; runtime >= ${catalog.min_runtime_version}; ` +
    `max memory ${catalog.max_memory_mb} MiB`,
    `  ${pad("")}capabilities ${catalog.capabilities.join(", ") || "none"}`,
    `  ${pad("gateway")}hardware ${
      checked.hardware ?? "not checked (no --hardware)"
    }; runtime ${checked.runtimeVersion}`,
  ];
  return lines.join("\n");
}
