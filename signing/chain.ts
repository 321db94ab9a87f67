/**
 * Certificate path validation for module signatures, with `node:crypto`'s `X509Certificate`: the signing
 * certificate, the intermediates the bundle carries, and a root from the gateway's trust store (never the
 * bundle's copy), checked link by link (RFC 5280 §6.1, reduced to what an all-Ed25519 private PKI needs),
 * then each certificate's validity period and the CRLs of the CAs that issued them.
 *
 * @module
 */
import { describe, type ParsedCertificate, x509 } from "./_x509.ts";
import { normalizeSerial } from "./_encoding.ts";
import { SignatureError } from "./errors.ts";
import type { ParsedCrl, TrustStore } from "./trust.ts";

/** `keyUsage` bits (RFC 5280 §4.2.1.3) as `@peculiar/x509` numbers them. */
const KEY_CERT_SIGN = x509.KeyUsageFlags.keyCertSign;
const DIGITAL_SIGNATURE = x509.KeyUsageFlags.digitalSignature;
const CODE_SIGNING = "1.3.6.1.5.5.7.3.3";

/** What the chain checks need to know of the verification. */
export interface ChainContext {
  readonly trust: TrustStore;
  /** The verification time. */
  readonly now: Date;
  /** The module, for messages. */
  readonly module: string | null;
}

const role = (i: number, length: number) =>
  i === 0 ? "signing certificate" : i === length - 1 ? "root certificate" : "intermediate certificate";

/**
 * Checks that `certs` (signing certificate first, then intermediates, optionally the root) lead to a root of
 * the trust store, and returns the full path, root last (the trust store's copy).
 *
 * @throws {SignatureError} `untrusted_root` for a broken link or a chain that reaches no trusted root (or
 * whose issuers are not CAs, or exceed a path length); `unknown_signer` when the first certificate may not
 * sign code; `malformed` for a key that is not Ed25519.
 */
export function buildPath(certs: readonly ParsedCertificate[], ctx: ChainContext): ParsedCertificate[] {
  const fail = (
    reason: "untrusted_root" | "unknown_signer" | "malformed",
    detail: string,
    c?: ParsedCertificate,
  ) => new SignatureError(reason, ctx.module, detail, c ? { certificate: c } : {});
  const chain = [...certs];
  // A bundle may carry the root itself; it is replaced by the trust store's copy.
  const last = chain[chain.length - 1]!;
  if (ctx.trust.roots.some((r) => r.fingerprint === last.fingerprint)) {
    chain.pop();
    if (chain.length === 0) {
      throw fail(
        "unknown_signer",
        `the signing certificate ${describe(last)} is a trusted root itself`,
        last,
      );
    }
  }
  for (const [i, cert] of chain.entries()) {
    if (!cert.ed25519) {
      const type = cert.node.publicKey.asymmetricKeyType;
      const what = `the ${role(i, chain.length + 1)} ${describe(cert)}`;
      throw fail("malformed", `${what} holds a ${type} key; Kiln signatures are Ed25519 only`, cert);
    }
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    const [child, parent] = [chain[i]!, chain[i + 1]!];
    if (!child.node.checkIssued(parent.node) || !child.node.verify(parent.node.publicKey)) {
      throw fail(
        "untrusted_root",
        `the chain is broken: ${describe(child)} is not issued and signed by ${describe(parent)}, the next ` +
          `certificate of the bundle`,
        child,
      );
    }
  }
  const top = chain[chain.length - 1]!;
  const root = ctx.trust.roots.find((r) => top.node.checkIssued(r.node) && top.node.verify(r.node.publicKey));
  if (root === undefined) {
    const fps = ctx.trust.roots.map((r) => r.fingerprint).join(", ");
    throw fail(
      "untrusted_root",
      `the chain does not reach a trusted root: ${describe(top)} was issued by "${top.node.issuer}", ` +
        `which is not one of the ${ctx.trust.roots.length} trusted root(s) (${fps}) or does not verify with it`,
      top,
    );
  }
  const path = [...chain, root];
  for (let i = 1; i < path.length; i++) {
    const ca = path[i]!;
    const what = `the ${role(i, path.length)} ${describe(ca)}`;
    if (!ca.ca) {
      throw fail("untrusted_root", `${what} issued a certificate but is not a CA (basicConstraints)`, ca);
    }
    if (ca.keyUsage !== null && (ca.keyUsage & KEY_CERT_SIGN) === 0) {
      throw fail("untrusted_root", `${what} issued a certificate but its keyUsage lacks keyCertSign`, ca);
    }
    // Intermediates between this CA and the signing certificate: path[1..i-1].
    if (ca.pathLength !== null && ca.pathLength < i - 1) {
      throw fail(
        "untrusted_root",
        `${what} allows ${ca.pathLength} intermediate(s) below it (pathlen), the chain has ${i - 1}`,
        ca,
      );
    }
  }
  const leaf = path[0]!;
  const leafName = `the signing certificate ${describe(leaf)}`;
  if (leaf.ca) {
    throw fail(
      "unknown_signer",
      `${leafName} is a CA certificate; modules are signed by a developer's certificate`,
      leaf,
    );
  }
  if (leaf.keyUsage !== null && (leaf.keyUsage & DIGITAL_SIGNATURE) === 0) {
    throw fail("unknown_signer", `${leafName} may not sign: its keyUsage lacks digitalSignature`, leaf);
  }
  if (leaf.extendedKeyUsage !== null && !leaf.extendedKeyUsage.includes(CODE_SIGNING)) {
    throw fail(
      "unknown_signer",
      `${leafName} may not sign code: its extendedKeyUsage lacks codeSigning`,
      leaf,
    );
  }
  return path;
}

/**
 * Checks every certificate of `path` is valid at `ctx.now`, signing certificate first.
 *
 * @throws {SignatureError} `not_yet_valid` or `expired`, naming the certificate and its date.
 */
export function checkValidity(path: readonly ParsedCertificate[], ctx: ChainContext): void {
  const now = ctx.now.getTime();
  for (const [i, cert] of path.entries()) {
    const from = cert.node.validFromDate;
    const to = cert.node.validToDate;
    if (now < from.getTime()) {
      throw new SignatureError(
        "not_yet_valid",
        ctx.module,
        `the ${role(i, path.length)} ${describe(cert)} is not valid before ${from.toISOString()} ` +
          `(checked at ${ctx.now.toISOString()})`,
        { certificate: cert },
      );
    }
    if (now > to.getTime()) {
      throw new SignatureError(
        "expired",
        ctx.module,
        `the ${role(i, path.length)} ${describe(cert)} expired at ${to.toISOString()} ` +
          `(checked at ${ctx.now.toISOString()})`,
        { certificate: cert },
      );
    }
  }
}

/** CRL verification results, by CRL and issuer fingerprint, so a CRL is verified once per store. */
const verified = new WeakMap<ParsedCrl, Map<string, boolean>>();

async function crlVerifies(crl: ParsedCrl, issuer: ParsedCertificate): Promise<boolean> {
  let byIssuer = verified.get(crl);
  if (!byIssuer) verified.set(crl, byIssuer = new Map());
  let ok = byIssuer.get(issuer.fingerprint);
  if (ok === undefined) {
    try {
      ok = await crl.crl.verify({ publicKey: issuer.peculiar.publicKey });
    } catch {
      ok = false;
    }
    byIssuer.set(issuer.fingerprint, ok);
  }
  return ok;
}

/**
 * Checks the CRLs of the trust store against `path`: for each certificate, the CRLs that name its issuer
 * must verify with the issuer's key and be current, and must not list its serial number.
 *
 * @throws {SignatureError} `revoked` naming the certificate, the CA and the date; `revocation_unavailable`
 * for a CRL that does not verify or is out of date, or a missing CRL when the store requires them.
 */
export async function checkRevocation(path: readonly ParsedCertificate[], ctx: ChainContext): Promise<void> {
  const now = ctx.now.getTime();
  const unavailable = (detail: string, cert: ParsedCertificate) =>
    new SignatureError("revocation_unavailable", ctx.module, detail, { certificate: cert });
  for (let i = 0; i + 1 < path.length; i++) {
    const [cert, issuer] = [path[i]!, path[i + 1]!];
    const crls = ctx.trust.crls.filter((c) => c.issuer === issuer.subject);
    if (crls.length === 0 && ctx.trust.requireCrls) {
      throw unavailable(
        `no CRL from ${describe(issuer)}, which issued ${describe(cert)}, and CRLs are required`,
        issuer,
      );
    }
    for (const crl of crls) {
      const from = `the CRL "${crl.source}" of ${describe(issuer)}`;
      if (!await crlVerifies(crl, issuer)) {
        throw unavailable(`${from} does not verify with that CA's key`, issuer);
      }
      if (crl.crl.thisUpdate.getTime() > now) {
        throw unavailable(`${from} is not valid before ${crl.crl.thisUpdate.toISOString()}`, issuer);
      }
      const next = crl.crl.nextUpdate;
      if (next === undefined || next.getTime() < now) {
        throw unavailable(
          next === undefined
            ? `${from} has no nextUpdate`
            : `${from} expired at ${next.toISOString()}: issue a new one`,
          issuer,
        );
      }
      const entry = crl.crl.entries.find((e) => normalizeSerial(e.serialNumber) === cert.serial);
      if (entry) {
        throw new SignatureError(
          "revoked",
          ctx.module,
          `the ${role(i, path.length)} ${describe(cert)} (serial ${cert.serial}) was revoked by ` +
            `${describe(issuer)} on ${entry.revocationDate.toISOString()} (${crl.source})`,
          { certificate: cert },
        );
      }
    }
  }
}
