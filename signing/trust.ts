/**
 * The gateway's trust store: the root certificates it trusts and the certificate revocation lists (CRLs) it
 * knows, parsed once and used for every verification.
 *
 * @example
 * ```ts ignore
 * import { loadTrustStore } from "./trust.ts";
 *
 * const trust = await loadTrustStore({ roots: ["/etc/kiln/root.pem"], crls: ["/etc/kiln/intermediate.crl"] });
 * ```
 *
 * @module
 */
import { pemBlocks } from "./_encoding.ts";
import { parseCertificates, type ParsedCertificate, x509 } from "./_x509.ts";
import { PkiError } from "./errors.ts";

/** Largest CRL accepted, bytes. */
export const MAX_CRL_BYTES = 4 * 1024 * 1024;

/** A CRL parsed once. */
export interface ParsedCrl {
  readonly crl: x509.X509Crl;
  /** Its issuer's name as one line. */
  readonly issuer: string;
  /** Where it came from (a file name), for messages. */
  readonly source: string;
}

/** What a gateway trusts: see {@linkcode createTrustStore}. */
export interface TrustStore {
  /** The trusted roots (trust anchors): CA certificates with Ed25519 keys. */
  readonly roots: readonly ParsedCertificate[];
  /** The CRLs known; each is checked against the chain's CA that it names as issuer. */
  readonly crls: readonly ParsedCrl[];
  /**
   * When true, every CA that issued a certificate of a chain must have a current CRL here, or the module is
   * refused (`revocation_unavailable`). When false, a CA without a CRL is taken as revoking nothing, but a
   * CRL that is present and does not verify or is out of date still refuses the module.
   */
  readonly requireCrls: boolean;
}

/** Options of {@linkcode createTrustStore}. */
export interface TrustStoreOptions {
  /** PEM text of the trusted roots, each one or several certificates, with a name for messages. */
  roots: readonly { source: string; pem: string }[];
  /** CRLs, PEM or DER, with a name for messages. @default [] */
  crls?: readonly { source: string; data: string | Uint8Array }[];
  /** See {@linkcode TrustStore.requireCrls}. @default false */
  requireCrls?: boolean;
}

/**
 * Builds a trust store from PEM and CRL data.
 *
 * @throws {PkiError} when there is no root, a root is not a CA certificate with an Ed25519 key, or a CRL
 * cannot be read.
 */
export function createTrustStore(options: TrustStoreOptions): TrustStore {
  const roots: ParsedCertificate[] = [];
  for (const { source, pem } of options.roots) {
    for (const cert of parseCertificates(pem, source)) {
      if (!cert.ca) {
        throw new PkiError(source, `"${cert.subject}" is not a CA certificate (basicConstraints CA:TRUE)`);
      }
      if (!cert.ed25519) throw new PkiError(source, `"${cert.subject}" does not hold an Ed25519 key`);
      if (!roots.some((r) => r.fingerprint === cert.fingerprint)) roots.push(cert);
    }
  }
  if (roots.length === 0) throw new PkiError("trust store", "no trusted root certificate given");
  const crls: ParsedCrl[] = [];
  for (const { source, data } of options.crls ?? []) {
    const blocks = typeof data === "string"
      ? pemBlocks(data).filter((b) => b.label === "X509 CRL" || b.label === "CRL")
      : [];
    const items: (string | Uint8Array)[] = typeof data === "string" ? blocks.map((b) => b.text) : [data];
    if (items.length === 0) throw new PkiError(source, "no PEM CRL (-----BEGIN X509 CRL-----) in it");
    for (const item of items) {
      const size = typeof item === "string" ? item.length : item.byteLength;
      if (size > MAX_CRL_BYTES) throw new PkiError(source, `a CRL of ${size} bytes is over ${MAX_CRL_BYTES}`);
      try {
        const crl = new x509.X509Crl(typeof item === "string" ? item : item as Uint8Array<ArrayBuffer>);
        crls.push({ crl, issuer: crl.issuer, source });
      } catch (err) {
        throw new PkiError(source, `not an X.509 CRL (${(err as Error).message})`, { cause: err });
      }
    }
  }
  return { roots, crls, requireCrls: options.requireCrls ?? false };
}

/**
 * Reads a trust store from files: `roots` are PEM files (one or several certificates each), `crls` PEM or
 * DER CRL files.
 *
 * @throws {PkiError} as {@linkcode createTrustStore}, or when a file cannot be read.
 */
export async function loadTrustStore(
  files: { roots: readonly string[]; crls?: readonly string[]; requireCrls?: boolean },
): Promise<TrustStore> {
  const read = async <T>(path: string, how: (p: string) => Promise<T>): Promise<T> => {
    try {
      return await how(path);
    } catch (err) {
      throw new PkiError(path, (err as Error).message, { cause: err });
    }
  };
  const roots = await Promise.all(
    files.roots.map(async (source) => ({ source, pem: await read(source, Deno.readTextFile) })),
  );
  const crls = await Promise.all((files.crls ?? []).map(async (source) => {
    const bytes = await read(source, Deno.readFile);
    const text = new TextDecoder().decode(bytes.subarray(0, 64));
    return { source, data: text.includes("-----BEGIN") ? new TextDecoder().decode(bytes) : bytes };
  }));
  return createTrustStore({
    roots,
    crls,
    ...(files.requireCrls === undefined ? {} : { requireCrls: files.requireCrls }),
  });
}
