/**
 * Verifying a signed module: the bundle is read within its bounds, the envelope's signature checked with the
 * signing certificate's key, the chain built to a trusted root and checked for validity and revocation, and
 * only then the signed statement read: its subject against the module, its catalog facts against the
 * gateway and the manifest.
 *
 * @module
 */
import { sha256Hex } from "./_encoding.ts";
import { compare, valid } from "./_semver.ts";
import { describe, parseCertificate, type ParsedCertificate, verifyKeyOf } from "./_x509.ts";
import { readBundle } from "./bundle.ts";
import { buildPath, checkRevocation, checkValidity } from "./chain.ts";
import { verifySignature } from "./dsse.ts";
import { PkiError, SignatureError } from "./errors.ts";
import { type ModuleAttestation, type Statement, validateStatement } from "./statement.ts";
import type { TrustStore } from "./trust.ts";

/**
 * Whether an attested capability covers one the manifest grants. The default is string equality; the
 * runtime passes its own rule (`runtime/capabilities.ts` `covers`, the one `policy.allow` uses), so an
 * attested `write:mqtt:plant/#` covers a granted `write:mqtt:plant/line1/alerts`.
 */
export type CoversFn = (attested: string, granted: string) => boolean;

/** What a verification checks a module against. */
export interface VerifyContext {
  /** The trusted roots and CRLs. */
  trust: TrustStore;
  /** The verification time (certificate and CRL validity). @default new Date() */
  now?: Date;
  /** The module's name: a subject of the statement must have it. `null` accepts a single subject of any name. */
  moduleName: string | null;
  /** The gateway's hardware tag and runtime version; `null` (or a `null` field) skips that check. */
  gateway: { hardware: string | null; runtimeVersion: string | null } | null;
  /** What the manifest grants the module; `null` skips the check. */
  required: { capabilities: readonly string[]; maxMemoryMb: number } | null;
  /** @default string equality */
  covers?: CoversFn;
  /**
   * The version installed now, if any: a lower version is a downgrade. One that is not semver (a module
   * installed unsigned) is not compared. @default null
   */
  installedVersion?: string | null;
  /** Accept a version lower than `installedVersion` (a rollback does). @default false */
  allowDowngrade?: boolean;
}

/** A certificate of a verified chain. */
export interface ChainLink {
  subject: string;
  /** `SHA256:<hex>`. */
  fingerprint: string;
}

/** A module whose signature verified, and what the signature says of it. */
export interface VerifiedModule {
  /** The subject name the signature covers. */
  name: string;
  /** The module's SHA-256, lowercase hex. */
  sha256: string;
  /** `predicate.catalog.version`. */
  version: string;
  /** The signing certificate. */
  signer: ChainLink & { serial: string; validTo: Date };
  /** The path, signing certificate first, trusted root last. */
  chain: ChainLink[];
  statement: Statement;
  attestation: ModuleAttestation;
  /** Number of CRLs consulted (those of the chain's CAs). */
  crlsChecked: number;
}

/**
 * Verifies `wasm` against its signature `bundle` (the `.sig` file's bytes or text; `null` when there is none).
 *
 * @throws {SignatureError} with the `reason` of the first check that fails and a message naming what and
 * where; see `signing/README.md` for the order of the checks.
 * @example
 * ```ts ignore
 * const v = await verifyModule(wasm, sig, {
 *   trust, moduleName: "fft", gateway: { hardware: "arm64", runtimeVersion: "0.1.0" },
 *   required: { capabilities: ["read:sim:vibration_1"], maxMemoryMb: 4 },
 * });
 * v.signer.fingerprint; // "SHA256:3f…"
 * ```
 */
export async function verifyModule(
  wasm: Uint8Array,
  bundle: Uint8Array | string | null,
  ctx: VerifyContext,
): Promise<VerifiedModule> {
  const module = ctx.moduleName;
  const fail = (reason: SignatureError["reason"], detail: string, cert?: ParsedCertificate) =>
    new SignatureError(reason, module, detail, cert ? { certificate: cert } : {});
  if (bundle === null) throw fail("unsigned", "no signature bundle (.sig) was given for it");
  const { bundle: b, payload } = readBundle(bundle, module);
  const certs = b.certificate_chain.map((pem, i) => {
    try {
      return parseCertificate(pem, `bundle.certificate_chain[${i}]`);
    } catch (err) {
      if (err instanceof PkiError) throw fail("malformed", err.message.replace(/^Cannot use /, ""));
      throw err;
    }
  });
  const leaf = certs[0]!;
  const envelope = b.dsse_envelope;
  const mine = envelope.signatures.filter((s) => s.keyid === leaf.fingerprint);
  if (mine.length === 0) {
    const ids = envelope.signatures.map((s) => `"${s.keyid.slice(0, 80)}"`).join(", ");
    throw fail(
      "unknown_signer",
      `the envelope is signed by key ${ids}, which is not the bundle's signing certificate ${describe(leaf)}`,
      leaf,
    );
  }
  if (!leaf.ed25519) {
    throw fail(
      "malformed",
      `the signing certificate ${describe(leaf)} holds a ${leaf.node.publicKey.asymmetricKeyType} key; ` +
        `Kiln signatures are Ed25519 only`,
      leaf,
    );
  }
  const key = await verifyKeyOf(leaf);
  let ok = false;
  for (const s of mine) ok ||= await verifySignature(envelope.payloadType, payload, s.sig, key);
  if (!ok) {
    throw fail(
      "bad_signature",
      `the envelope's signature does not verify with the key of ${describe(leaf)}: the statement or the ` +
        `signature was altered, or another key signed it`,
      leaf,
    );
  }
  const chainCtx = { trust: ctx.trust, now: ctx.now ?? new Date(), module };
  const path = buildPath(certs, chainCtx);
  checkValidity(path, chainCtx);
  await checkRevocation(path, chainCtx);

  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch (err) {
    throw fail("malformed", `the signed payload is not JSON (${(err as Error).message})`);
  }
  const checked = validateStatement(json, "payload");
  if (!checked.ok) throw fail("malformed", `the signed statement is invalid: ${checked.problem}`);
  const statement = checked.value;
  const sha256 = await sha256Hex(wasm);
  const subjects = statement.subject;
  const subject = module === null
    ? (subjects.length === 1 ? subjects[0]! : undefined)
    : subjects.find((s) => s.name === module);
  if (subject === undefined) {
    const names = subjects.map((s) => `"${s.name}"`).join(", ");
    throw fail(
      "wrong_subject",
      module === null
        ? `the statement names ${subjects.length} modules (${names}); say which one this is`
        : `the signature is for ${names}, not "${module}"`,
    );
  }
  if (subject.digest.sha256 !== sha256) {
    throw fail(
      "digest_mismatch",
      `the module's SHA-256 is ${sha256}, the signature covers "${subject.name}" with SHA-256 ${subject.digest.sha256}`,
    );
  }
  checkCatalog(statement.predicate, ctx);
  return {
    name: subject.name,
    sha256,
    version: statement.predicate.catalog.version,
    signer: {
      subject: leaf.subject,
      fingerprint: leaf.fingerprint,
      serial: leaf.serial,
      validTo: leaf.node.validToDate,
    },
    chain: path.map((c) => ({ subject: c.subject, fingerprint: c.fingerprint })),
    statement,
    attestation: statement.predicate,
    crlsChecked: ctx.trust.crls.filter((c) => path.slice(1).some((ca) => ca.subject === c.issuer)).length,
  };
}

/** The catalog checks: hardware, runtime version, capabilities and memory, downgrade. */
function checkCatalog(attestation: ModuleAttestation, ctx: VerifyContext): void {
  const catalog = attestation.catalog;
  const fail = (reason: SignatureError["reason"], detail: string) =>
    new SignatureError(reason, ctx.moduleName, detail);
  const hardware = ctx.gateway?.hardware ?? null;
  if (hardware !== null && !catalog.hardware.includes(hardware)) {
    throw fail(
      "wrong_hardware",
      `this gateway is "${hardware}", the attestation's catalog.hardware lists ${
        catalog.hardware.map((h) => `"${h}"`).join(", ")
      }`,
    );
  }
  const runtime = ctx.gateway?.runtimeVersion ?? null;
  if (runtime !== null) {
    if (valid(runtime) === null) {
      throw new TypeError(`The gateway's runtime version "${runtime}" is not semver`);
    }
    if (compare(runtime, catalog.min_runtime_version) < 0) {
      throw fail(
        "runtime_too_old",
        `this runtime is ${runtime}, the attestation's catalog.min_runtime_version is ${catalog.min_runtime_version}`,
      );
    }
  }
  if (ctx.required !== null) {
    const covers = ctx.covers ?? ((a: string, g: string) => a === g);
    const missing = ctx.required.capabilities.filter((g) => !catalog.capabilities.some((a) => covers(a, g)));
    if (missing.length > 0) {
      throw fail(
        "attestation_narrower",
        `the manifest grants ${missing.map((c) => `"${c}"`).join(", ")}, which the attestation's ` +
          `catalog.capabilities (${
            catalog.capabilities.map((c) => `"${c}"`).join(", ") || "none"
          }) does not cover`,
      );
    }
    if (ctx.required.maxMemoryMb > catalog.max_memory_mb) {
      throw fail(
        "attestation_narrower",
        `the manifest gives it max_memory_mb ${ctx.required.maxMemoryMb}, over the attestation's ` +
          `catalog.max_memory_mb ${catalog.max_memory_mb}`,
      );
    }
  }
  const installed = ctx.installedVersion ?? null;
  if (installed !== null && !ctx.allowDowngrade && valid(installed) !== null) {
    if (compare(catalog.version, installed) < 0) {
      throw fail(
        "downgrade",
        `version ${catalog.version} would replace the installed ${installed}, and downgrades are not allowed ` +
          `(roll back instead, or allow downgrades in the manifest's signature policy)`,
      );
    }
  }
}
