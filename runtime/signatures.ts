/**
 * The gateway's side of signed modules: every module is checked against the manifest's `signatures:` policy
 * when it is loaded, at every deploy and at every start of the gateway, before anything of it runs (the
 * library that verifies is `signing/`). A module whose signature cannot be fully verified is refused with the
 * reason named; with `mode: required`, so is a module without one. Every check, pass or fail, is audited
 * (kind `signature`).
 *
 * The signing library (X.509 and CRL parsing) is imported only when the policy names trusted roots, so a
 * gateway without signatures does not load it.
 *
 * @module
 */
import type { AuditLog } from "../snapshots/mod.ts";
import type { SignatureError, TrustStore, VerifiedModule } from "../signing/mod.ts";
import { capabilityTextCovers } from "./capabilities.ts";
import type { ModulePlan, SignaturesPlan } from "./plan.ts";

/** What a module's signature said, as its status shows it. */
export interface ModuleSignature {
  /** The signed `catalog.version`. */
  version: string;
  /** The signing certificate's subject and `SHA256:` fingerprint. */
  signer: { subject: string; fingerprint: string };
  /** The chain, signing certificate first, trusted root last. */
  chain: { subject: string; fingerprint: string }[];
  /** RFC 3339. */
  verified_at: string;
}

/** Checks modules' signatures for one gateway. */
export interface ModuleVerifier {
  /** Whether unsigned modules are refused. */
  readonly required: boolean;
  /**
   * Verifies `wasm` of `plan` against its signature bundle (`plan.signature`, else `<wasm>.sig` when it
   * exists; `bundle` when given, a deploy's upload).
   *
   * @param options.installedVersion the signed version running now (a lower one is a downgrade).
   * @param options.rollback a rollback may go to a lower version.
   * @returns what the signature says, or null for an unsigned module the policy accepts.
   * @throws {SignatureError} when the module is refused.
   */
  verify(
    plan: ModulePlan,
    wasm: Uint8Array,
    options?: { bundle?: Uint8Array | null; installedVersion?: string | null; rollback?: boolean },
  ): Promise<ModuleSignature | null>;
}

/** Options of {@linkcode createModuleVerifier}. */
export interface ModuleVerifierOptions {
  policy: SignaturesPlan;
  /** The gateway's hardware tag (`device.hardware`); null: a catalog's hardware list is not checked. */
  hardware: string | null;
  /** This Kiln's version: a catalog's `min_runtime_version` must not be above it. */
  runtimeVersion: string;
  audit: AuditLog | null;
  log(line: string): void;
}

/**
 * Creates the verifier of a gateway: its trust store (roots and CRLs) is read once, here.
 *
 * @throws {import("../signing/mod.ts").PkiError} when a trusted root or a CRL cannot be read or parsed.
 */
export async function createModuleVerifier(options: ModuleVerifierOptions): Promise<ModuleVerifier> {
  const { policy } = options;
  const signing = policy.trustedRoots.length > 0 ? await import("../signing/mod.ts") : null;
  const trust: TrustStore | null = signing
    ? await signing.loadTrustStore({
      roots: policy.trustedRoots,
      crls: policy.crls,
      requireCrls: policy.requireCrls,
    })
    : null;

  const audit = (module: string, outcome: string, detail: string) => {
    try {
      options.audit?.record([{ module, kind: "signature", capability: outcome, detail }]);
    } catch (err) {
      options.log(`kiln: could not audit the signature check of ${module}: ${(err as Error).message}`);
    }
  };

  return {
    required: policy.mode === "required",
    async verify(plan, wasm, opts = {}) {
      const bundle = opts.bundle ?? await readBundle(plan);
      if (bundle === null && policy.mode === "optional") {
        audit(plan.name, "unsigned", `unsigned module accepted (signatures: optional); wasm ${plan.wasm}`);
        return null;
      }
      try {
        if (!signing || !trust) {
          // A signature with no trusted root to check it against: refused, never taken on trust.
          const { SignatureError } = await import("../signing/mod.ts");
          throw new SignatureError(
            bundle === null ? "unsigned" : "untrusted_root",
            plan.name,
            bundle === null
              ? "the module has no signature"
              : "it is signed, but this gateway trusts no root (signatures.trusted_roots is empty)",
          );
        }
        const verified: VerifiedModule = await signing.verifyModule(wasm, bundle, {
          trust,
          moduleName: plan.name,
          gateway: { hardware: options.hardware, runtimeVersion: options.runtimeVersion },
          required: { capabilities: plan.capabilities, maxMemoryMb: plan.maxMemoryMb },
          covers: capabilityTextCovers,
          installedVersion: opts.installedVersion ?? null,
          allowDowngrade: policy.allowDowngrade || (opts.rollback ?? false),
        });
        audit(
          plan.name,
          "verified",
          `version ${verified.version}, sha256 ${verified.sha256}, signer "${verified.signer.subject}" ${verified.signer.fingerprint}, chain ${
            verified.chain.map((c) => c.fingerprint).join(" <- ")
          }`,
        );
        return {
          version: verified.version,
          signer: { subject: verified.signer.subject, fingerprint: verified.signer.fingerprint },
          chain: verified.chain.map((c) => ({ subject: c.subject, fingerprint: c.fingerprint })),
          verified_at: new Date().toISOString(),
        };
      } catch (err) {
        const e = err as SignatureError;
        if (e?.code === "signature_invalid") audit(plan.name, `refused: ${e.reason}`, e.message);
        throw err;
      }
    },
  };
}

/** The module's signature bundle: its `signature` path, else `<wasm>.sig` if that exists; null when none. */
async function readBundle(plan: ModulePlan): Promise<Uint8Array | null> {
  const path = plan.signature ?? `${plan.wasm}.sig`;
  try {
    return await Deno.readFile(path);
  } catch (err) {
    // A missing bundle makes the module unsigned (refused when signatures are required).
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}
