/**
 * Errors of module signing: {@linkcode SignatureError} when a module's signature does not verify, with a
 * `reason` from a closed set; {@linkcode SigningError} when a module cannot be signed; {@linkcode PkiError}
 * when a key, certificate, CSR, CRL or trust store cannot be used.
 *
 * @module
 */
import { type ErrorKind, KilnError } from "../errors.ts";

/**
 * Why a module's signature was refused. The set is closed; each reason is documented in `signing/README.md`.
 *
 * - `unsigned`: no signature bundle at all.
 * - `malformed`: the bundle, envelope, certificates or statement cannot be read, or are over a size bound.
 * - `digest_mismatch`: the module's SHA-256 is not the one the statement signs.
 * - `bad_signature`: the envelope's signature does not verify with the signing certificate's key.
 * - `wrong_subject`: the statement signs another module (another name).
 * - `unknown_signer`: the key that signed is not the chain's signing certificate, or that certificate may not
 *   sign code (a CA, no `digitalSignature` usage, an extended key usage without `codeSigning`).
 * - `untrusted_root`: the chain is broken or does not end at a trusted root.
 * - `expired`, `not_yet_valid`: a certificate of the chain is outside its validity period.
 * - `revoked`: a CRL of the chain's CAs lists a certificate of the chain.
 * - `revocation_unavailable`: a CRL of a chain's CA does not verify, is expired or not yet valid, or (when
 *   CRLs are required) is missing: revocation cannot be decided, so the module is refused (fail closed).
 * - `attestation_narrower`: the attested capabilities or memory do not cover what the manifest grants.
 * - `wrong_hardware`: the gateway's hardware tag is not among the attested ones.
 * - `runtime_too_old`: the gateway's runtime is older than the attested minimum.
 * - `downgrade`: the version is lower than the installed one and downgrades are not allowed.
 */
export type SignatureReason =
  | "unsigned"
  | "malformed"
  | "digest_mismatch"
  | "bad_signature"
  | "wrong_subject"
  | "unknown_signer"
  | "untrusted_root"
  | "expired"
  | "not_yet_valid"
  | "revoked"
  | "revocation_unavailable"
  | "attestation_narrower"
  | "wrong_hardware"
  | "runtime_too_old"
  | "downgrade";

/** Every {@linkcode SignatureReason}. */
export const SIGNATURE_REASONS: readonly SignatureReason[] = [
  "unsigned",
  "malformed",
  "digest_mismatch",
  "bad_signature",
  "wrong_subject",
  "unknown_signer",
  "untrusted_root",
  "expired",
  "not_yet_valid",
  "revoked",
  "revocation_unavailable",
  "attestation_narrower",
  "wrong_hardware",
  "runtime_too_old",
  "downgrade",
];

/** A certificate named in an error: its subject and its `SHA256:<hex>` fingerprint. */
export interface CertificateRef {
  readonly subject: string;
  readonly fingerprint: string;
}

/** Options of {@linkcode SignatureError}. */
export interface SignatureErrorOptions extends ErrorOptions {
  /** The certificate at fault, when one is. */
  certificate?: CertificateRef;
}

/**
 * A module's signature could not be fully verified, so the module is refused. `reason` says which check
 * failed; the message says what and where (which certificate, which capability, which field).
 * Kind `invalid` for `malformed` (unreadable input), `rejected` for every other reason.
 */
export class SignatureError extends KilnError {
  readonly code = "signature_invalid";
  readonly kind: ErrorKind;
  /** The certificate at fault, or `null`. */
  readonly certificate: CertificateRef | null;

  /**
   * @param reason Which check failed.
   * @param module The module's name, or `null` when it is not known.
   * @param detail What failed and where, e.g. `certificate "CN=Jane Doe" (SHA256:...) expired at ...`.
   */
  constructor(
    readonly reason: SignatureReason,
    readonly module: string | null,
    readonly detail: string,
    options: SignatureErrorOptions = {},
  ) {
    super(
      `Signature of module ${module === null ? "(unnamed)" : `"${module}"`} refused (${reason}): ${detail}`,
      {
        ...(options.cause === undefined ? {} : { cause: options.cause }),
      },
    );
    this.kind = reason === "malformed" ? "invalid" : "rejected";
    this.certificate = options.certificate ?? null;
  }
}

/** A module could not be signed: an attestation that does not validate, a key that does not match. */
export class SigningError extends KilnError {
  readonly code = "signing_failed";
  readonly kind = "invalid";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** A key, certificate, CSR, CRL or trust-store file cannot be read or used. */
export class PkiError extends KilnError {
  readonly code = "pki_invalid";
  readonly kind = "invalid";
  /**
   * @param source The file or item at fault, e.g. `"ca/intermediate.pem"`.
   * @param reason Why, e.g. `not an Ed25519 key`.
   */
  constructor(readonly source: string, readonly reason: string, options?: ErrorOptions) {
    super(`Cannot use "${source}": ${reason}`, options);
  }
}
