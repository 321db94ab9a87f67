/**
 * One place that loads `@peculiar/x509` (which needs the `reflect-metadata` polyfill imported before it) and
 * points it at WebCrypto, and parses certificates into both views Kiln uses: `node:crypto`'s
 * `X509Certificate` for the chain checks, `@peculiar/x509` for the extensions node does not expose
 * (path length, key usage, extended key usage) and for CRLs.
 *
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { X509Certificate } from "node:crypto";
import { fingerprintFromNode, normalizeSerial, pemBlocks } from "./_encoding.ts";
import { PkiError } from "./errors.ts";

x509.cryptoProvider.set(crypto);

export { x509 };

/** The Ed25519 algorithm as WebCrypto names it. */
export const ED25519 = { name: "Ed25519" } as const;

/** Extended key usage for code signing (RFC 5280 §4.2.1.12). */
export const CODE_SIGNING_OID = "1.3.6.1.5.5.7.3.3";

/** Largest PEM text of one certificate accepted, characters (a Kiln Ed25519 certificate is under 1,000). */
export const MAX_CERTIFICATE_PEM_CHARS = 16 * 1024;

/** A certificate parsed once, with what the checks read. */
export interface ParsedCertificate {
  /** `node:crypto`'s view: issuance, signatures, validity, `ca`. */
  readonly node: X509Certificate;
  /** `@peculiar/x509`'s view: extensions. */
  readonly peculiar: x509.X509Certificate;
  readonly pem: string;
  /** The subject as one line, e.g. `CN=Jane Doe, O=Plant`. */
  readonly subject: string;
  /** `SHA256:<lowercase hex>` of the DER certificate. */
  readonly fingerprint: string;
  /** Serial number, lowercase hex without leading zeros. */
  readonly serial: string;
  /** True when the key is Ed25519. */
  readonly ed25519: boolean;
  /** `basicConstraints` CA flag. */
  readonly ca: boolean;
  /** `basicConstraints` path length, or `null` when unbounded or absent. */
  readonly pathLength: number | null;
  /** `keyUsage` bits, or `null` when the extension is absent. */
  readonly keyUsage: number | null;
  /** `extendedKeyUsage` OIDs, or `null` when absent. */
  readonly extendedKeyUsage: readonly string[] | null;
}

/**
 * Parses one PEM certificate.
 *
 * @param source Where it came from, for the error message (a file, `certificate_chain[1]`).
 * @throws {PkiError} when it is not a readable X.509 certificate.
 */
export function parseCertificate(pem: string, source: string): ParsedCertificate {
  if (pem.length > MAX_CERTIFICATE_PEM_CHARS) {
    throw new PkiError(
      source,
      `a certificate of ${pem.length} characters is over ${MAX_CERTIFICATE_PEM_CHARS}`,
    );
  }
  let node: X509Certificate;
  let peculiar: x509.X509Certificate;
  try {
    node = new X509Certificate(pem);
    peculiar = new x509.X509Certificate(pem);
  } catch (err) {
    throw new PkiError(source, `not an X.509 certificate (${(err as Error).message})`, { cause: err });
  }
  const bc = peculiar.getExtension(x509.BasicConstraintsExtension);
  const ku = peculiar.getExtension(x509.KeyUsagesExtension);
  const eku = peculiar.getExtension(x509.ExtendedKeyUsageExtension);
  return {
    node,
    peculiar,
    pem,
    subject: peculiar.subject,
    fingerprint: fingerprintFromNode(node.fingerprint256),
    serial: normalizeSerial(node.serialNumber),
    ed25519: node.publicKey.asymmetricKeyType === "ed25519",
    ca: node.ca,
    pathLength: bc?.ca && bc.pathLength !== undefined ? bc.pathLength : null,
    keyUsage: ku ? ku.usages : null,
    extendedKeyUsage: eku ? eku.usages.map(String) : null,
  };
}

/**
 * Parses every `CERTIFICATE` block of `text` (a file may hold several).
 *
 * @throws {PkiError} when it holds none, or one is not readable.
 */
export function parseCertificates(text: string, source: string): ParsedCertificate[] {
  const blocks = pemBlocks(text).filter((b) => b.label === "CERTIFICATE");
  if (blocks.length === 0) {
    throw new PkiError(source, "no PEM certificate (-----BEGIN CERTIFICATE-----) in it");
  }
  return blocks.map((b, i) => parseCertificate(b.text, blocks.length > 1 ? `${source}[${i}]` : source));
}

/** The certificate's Ed25519 public key as a WebCrypto key for `verify`. */
export async function verifyKeyOf(cert: ParsedCertificate): Promise<CryptoKey> {
  const jwk = cert.node.publicKey.export({ format: "jwk" }) as JsonWebKey;
  return await crypto.subtle.importKey("jwk", jwk, ED25519, false, ["verify"]);
}

/** A short name for messages: `"CN=Jane Doe" (SHA256:ab12...)`. */
export function describe(cert: { subject: string; fingerprint: string }): string {
  return `"${cert.subject}" (${cert.fingerprint})`;
}
