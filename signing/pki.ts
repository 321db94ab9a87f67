/**
 * A small Ed25519 PKI for plants and labs, behind `kiln keys`: a root and an intermediate CA, developer keys
 * with their certificate signing requests (CSRs), certificates issued from CSRs, and CRLs. Built with
 * `@peculiar/x509` over WebCrypto (`node:crypto` cannot create certificates); keys are PKCS#8 PEM, so
 * `openssl` reads everything this writes and `openssl verify` accepts the chains.
 *
 * @module
 */
import { normalizeSerial, toPem } from "./_encoding.ts";
import { describe, ED25519, parseCertificate, x509 } from "./_x509.ts";
import { PkiError } from "./errors.ts";
import { importSigningKey } from "./sign.ts";

const DAY_MS = 86_400_000;
/** Certificates start this long before "now", so a gateway whose clock is a little behind accepts them. */
const BACKDATE_MS = 5 * 60_000;
const CRL_NUMBER_OID = "2.5.29.20";

/** A key pair and certificate, as PEM. */
export interface PemIdentity {
  /** PKCS#8 PEM private key. */
  keyPem: string;
  certPem: string;
}

/** A lab CA: root, intermediate, and each one's (empty) CRL. */
export interface LabCa {
  root: PemIdentity;
  intermediate: PemIdentity;
  rootCrlPem: string;
  intermediateCrlPem: string;
}

/** A random positive 16-byte serial number in hex (RFC 5280 §4.1.2.2 allows up to 20 octets). */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function newKeys(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"]) as CryptoKeyPair;
}

async function privatePem(key: CryptoKey): Promise<string> {
  return toPem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", key)));
}

function days(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 36500) {
    throw new RangeError(`${what} must be 1 to 36500 days, got ${n}`);
  }
  return n * DAY_MS;
}

/**
 * Creates a lab CA: a self-signed root `"<name> Root CA"` (path length 1) and an intermediate
 * `"<name> Intermediate CA"` (path length 0) it issues, both valid `days` days, with an empty CRL each
 * valid `crlDays`.
 *
 * @throws {RangeError} for a day count outside 1 to 36500.
 */
export async function createLabCa(
  options: { name: string; days: number; crlDays?: number; now?: Date },
): Promise<LabCa> {
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + days(options.days, "--days"));
  const rootKeys = await newKeys();
  const rootName = new x509.Name([{ CN: [`${options.name} Root CA`] }]);
  const root = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: rootName,
    issuer: rootName,
    notBefore,
    notAfter,
    publicKey: rootKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: ED25519,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const intKeys = await newKeys();
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: new x509.Name([{ CN: [`${options.name} Intermediate CA`] }]),
    issuer: root.subjectName,
    notBefore,
    notAfter,
    publicKey: intKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: ED25519,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(intKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const crlDays = options.crlDays ?? 30;
  return {
    root: { keyPem: await privatePem(rootKeys.privateKey), certPem: root.toString("pem") + "\n" },
    intermediate: {
      keyPem: await privatePem(intKeys.privateKey),
      certPem: intermediate.toString("pem") + "\n",
    },
    rootCrlPem: await signCrl(root, rootKeys.privateKey, { entries: [], number: 1, days: crlDays, now }),
    intermediateCrlPem: await signCrl(intermediate, intKeys.privateKey, {
      entries: [],
      number: 1,
      days: crlDays,
      now,
    }),
  };
}

/** Creates a developer's Ed25519 key and a CSR for `CN=<name>`. */
export async function createSigningRequest(
  options: { name: string },
): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await newKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: new x509.Name([{ CN: [options.name] }]),
    keys,
    signingAlgorithm: ED25519,
  });
  return { keyPem: await privatePem(keys.privateKey), csrPem: csr.toString("pem") + "\n" };
}

/**
 * Issues a code-signing certificate for `csrPem`, signed by the CA (`caKeyPem`, `caCertPem`): not a CA,
 * keyUsage digitalSignature, extendedKeyUsage codeSigning, the CSR's subject, valid `days` days.
 *
 * @throws {PkiError} when the CSR does not verify or is not Ed25519, the CA certificate is not a CA or does
 * not match its key, or the certificate would outlive the CA's.
 */
export async function issueCertificate(
  options: { csrPem: string; caKeyPem: string; caCertPem: string; days: number; now?: Date; source?: string },
): Promise<string> {
  const source = options.source ?? "CSR";
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(options.csrPem);
  } catch (err) {
    throw new PkiError(source, `not a PKCS#10 certificate request (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (csr.publicKey.algorithm.name !== "Ed25519") {
    throw new PkiError(
      source,
      `the request holds a ${csr.publicKey.algorithm.name} key; Kiln signs with Ed25519`,
    );
  }
  if (!await csr.verify()) throw new PkiError(source, "the request's self-signature does not verify");
  const ca = parseCertificate(options.caCertPem, "CA certificate");
  if (!ca.ca) throw new PkiError("CA certificate", `${describe(ca)} is not a CA`);
  const caKey = await importSigningKey(options.caKeyPem, "CA key");
  const now = options.now ?? new Date();
  const notAfter = new Date(now.getTime() + days(options.days, "--days"));
  if (notAfter > ca.node.validToDate) {
    throw new PkiError(
      "CA certificate",
      `${
        describe(ca)
      } expires at ${ca.node.validToDate.toISOString()}, before the ${options.days} days asked`,
    );
  }
  const publicKey = await csr.publicKey.export(ED25519, ["verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: csr.subjectName,
    issuer: ca.peculiar.subjectName,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter,
    publicKey,
    signingKey: caKey,
    signingAlgorithm: ED25519,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning], false),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.peculiar.publicKey),
    ],
  });
  const pem = cert.toString("pem") + "\n";
  if (!parseCertificate(pem, "issued").node.verify(ca.node.publicKey)) {
    throw new PkiError("CA key", `it does not belong to the CA certificate ${describe(ca)}`);
  }
  return pem;
}

/** DER INTEGER of a non-negative safe integer. */
function derInteger(n: number): Uint8Array<ArrayBuffer> {
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return new Uint8Array([0x02, bytes.length, ...bytes]);
}

/** The CRL number of `crl`, or 0 when it has none. */
function crlNumber(crl: x509.X509Crl): number {
  const ext = crl.extensions.find((e) => e.type === CRL_NUMBER_OID);
  if (!ext) return 0;
  const der = new Uint8Array(ext.value);
  let n = 0;
  for (const b of der.subarray(2, 2 + (der[1] ?? 0))) n = n * 256 + b;
  return n;
}

async function signCrl(
  ca: x509.X509Certificate,
  key: CryptoKey,
  options: { entries: x509.X509CrlEntryParams[]; number: number; days: number; now: Date },
): Promise<string> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.subjectName,
    thisUpdate: new Date(options.now.getTime() - BACKDATE_MS),
    nextUpdate: new Date(options.now.getTime() + days(options.days, "CRL validity")),
    entries: options.entries,
    extensions: [
      new x509.Extension(CRL_NUMBER_OID, false, derInteger(options.number)),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey),
    ],
    signingKey: key,
    signingAlgorithm: ED25519,
  });
  // RFC 7468 §5 labels a CRL "X509 CRL" (openssl reads only that); @peculiar/x509 writes "CRL".
  return toPem("X509 CRL", new Uint8Array(crl.rawData));
}

/**
 * Issues a new CRL for the CA: the entries of `previousCrlPem` (if any) plus `revoke` (certificate PEMs the
 * CA issued), with the next CRL number, valid `days` days from `now`. With nothing to revoke it renews the
 * CRL, which a gateway needs before the old one's nextUpdate.
 *
 * @throws {PkiError} when a certificate to revoke was not issued by this CA, or the previous CRL is not this
 * CA's.
 */
export async function updateCrl(options: {
  caKeyPem: string;
  caCertPem: string;
  previousCrlPem: string | null;
  revoke?: readonly string[];
  days: number;
  now?: Date;
}): Promise<{ crlPem: string; revoked: { subject: string; serial: string; fingerprint: string }[] }> {
  const now = options.now ?? new Date();
  const ca = parseCertificate(options.caCertPem, "CA certificate");
  const key = await importSigningKey(options.caKeyPem, "CA key");
  const entries: x509.X509CrlEntryParams[] = [];
  let number = 1;
  if (options.previousCrlPem !== null) {
    const previous = new x509.X509Crl(options.previousCrlPem);
    if (previous.issuer !== ca.subject || !await previous.verify({ publicKey: ca.peculiar.publicKey })) {
      throw new PkiError("previous CRL", `it is not a CRL of ${describe(ca)}`);
    }
    for (const e of previous.entries) {
      entries.push({ serialNumber: e.serialNumber, revocationDate: e.revocationDate });
    }
    number = crlNumber(previous) + 1;
  }
  const revoked = [];
  for (const [i, pem] of (options.revoke ?? []).entries()) {
    const cert = parseCertificate(pem, `certificate ${i + 1}`);
    if (!cert.node.checkIssued(ca.node) || !cert.node.verify(ca.node.publicKey)) {
      throw new PkiError("certificate", `${describe(cert)} was not issued by ${describe(ca)}`);
    }
    if (!entries.some((e) => normalizeSerial(e.serialNumber) === cert.serial)) {
      entries.push({ serialNumber: cert.peculiar.serialNumber, revocationDate: now });
    }
    revoked.push({ subject: cert.subject, serial: cert.serial, fingerprint: cert.fingerprint });
  }
  return { crlPem: await signCrl(ca.peculiar, key, { entries, number, days: options.days, now }), revoked };
}
