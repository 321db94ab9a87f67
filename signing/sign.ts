/**
 * Signing a module: the statement is built from the module's name and SHA-256 and the developer's
 * attestation, put in a DSSE envelope signed with the developer's Ed25519 key, and bundled with the
 * certificate chain.
 *
 * @module
 */
import { sha256Hex, utf8 } from "./_encoding.ts";
import { describe, ED25519, parseCertificate, verifyKeyOf } from "./_x509.ts";
import { BUNDLE_MEDIA_TYPE, MAX_CHAIN_LENGTH, serializeBundle, type SignatureBundle } from "./bundle.ts";
import { signEnvelope, verifySignature } from "./dsse.ts";
import { PkiError, SigningError } from "./errors.ts";
import { createStatement, type Statement, validateAttestation } from "./statement.ts";

/** Options of {@linkcode signModule}. */
export interface SignModuleOptions {
  /** The module's name, the statement's subject (the name the manifest deploys it under). */
  name: string;
  /** The developer's Ed25519 private key: a WebCrypto key, or PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  privateKey: CryptoKey | string;
  /** PEM certificates: the developer's signing certificate first, then the intermediate(s). */
  certificateChain: readonly string[];
  /** `{ build, catalog }`, validated against Kiln's predicate. */
  attestation: unknown;
  /** Refuse a signing certificate that is not valid at this time. @default new Date() */
  now?: Date;
}

/** A signed module's bundle, as an object and as the `.sig` file's text. */
export interface SignedModule {
  bundle: SignatureBundle;
  /** The `.sig` file's content. */
  text: string;
  statement: Statement;
}

/**
 * Imports a PKCS#8 PEM Ed25519 private key for signing.
 *
 * @throws {PkiError} when it is not an unencrypted PKCS#8 Ed25519 key.
 */
export async function importSigningKey(pem: string, source = "private key"): Promise<CryptoKey> {
  const m = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/.exec(pem);
  if (!m) {
    const encrypted = pem.includes("ENCRYPTED PRIVATE KEY");
    throw new PkiError(
      source,
      encrypted ? "an encrypted key; Kiln reads unencrypted PKCS#8 keys" : "no PKCS#8 PEM private key in it",
    );
  }
  try {
    const der = Uint8Array.from(atob(m[1]!.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
    return await crypto.subtle.importKey("pkcs8", der, ED25519, false, ["sign"]);
  } catch (err) {
    throw new PkiError(source, `not an Ed25519 private key (${(err as Error).message})`, { cause: err });
  }
}

/**
 * Signs `wasm` as module `options.name`.
 *
 * @throws {SigningError} when the attestation is invalid (naming the field), the chain is empty or too long,
 * the key does not match the signing certificate, or that certificate is not valid now.
 * @throws {PkiError} when the key or a certificate cannot be read.
 */
export async function signModule(wasm: Uint8Array, options: SignModuleOptions): Promise<SignedModule> {
  const attestation = validateAttestation(options.attestation);
  if (!attestation.ok) throw new SigningError(`The attestation is invalid: ${attestation.problem}`);
  if (options.certificateChain.length === 0 || options.certificateChain.length > MAX_CHAIN_LENGTH) {
    throw new SigningError(
      `A bundle carries 1 to ${MAX_CHAIN_LENGTH} certificates, the signing one first; got ${options.certificateChain.length}`,
    );
  }
  const certs = options.certificateChain.map((pem, i) =>
    parseCertificate(pem, i === 0 ? "certificate" : `chain[${i}]`)
  );
  const leaf = certs[0]!;
  if (!leaf.ed25519) {
    throw new SigningError(`The signing certificate ${describe(leaf)} does not hold an Ed25519 key`);
  }
  const now = options.now ?? new Date();
  if (now < leaf.node.validFromDate || now > leaf.node.validToDate) {
    throw new SigningError(
      `The signing certificate ${describe(leaf)} is valid from ${leaf.node.validFromDate.toISOString()} to ` +
        `${leaf.node.validToDate.toISOString()}, not now`,
    );
  }
  const key = typeof options.privateKey === "string"
    ? await importSigningKey(options.privateKey)
    : options.privateKey;
  const statement = createStatement(options.name, await sha256Hex(wasm), attestation.value);
  const payload = utf8(JSON.stringify(statement));
  const envelope = await signEnvelope(payload, { privateKey: key, keyid: leaf.fingerprint });
  if (
    !await verifySignature(
      envelope.payloadType,
      payload,
      envelope.signatures[0]!.sig,
      await verifyKeyOf(leaf),
    )
  ) {
    throw new SigningError(`The private key does not belong to the signing certificate ${describe(leaf)}`);
  }
  const bundle: SignatureBundle = {
    media_type: BUNDLE_MEDIA_TYPE,
    dsse_envelope: envelope,
    certificate_chain: certs.map((c) => c.pem),
  };
  return { bundle, text: serializeBundle(bundle), statement };
}
