/**
 * The certificate store of one connection attempt: node-opcua's `OPCUACertificateManager` over the endpoint's
 * PKI folder, made for each attempt, read from disk when it starts, and disposed by Kiln with the attempt.
 *
 * Why not one store for the connector's life, as node-opcua's examples do:
 * - node-opcua counts a store's users: each `OPCUAClient` made with it adds one, and each disconnect of a
 *   client that had connected takes one away; a client whose connect failed never does. After one failed
 *   attempt the store's `dispose()` only decremented that count, its file watchers stayed open, and a process
 *   that had closed every connector never exited (a test's child process stayed alive until it was killed).
 *   Kiln owns the store, so Kiln disposes it, whatever node-opcua counted.
 * - A long-lived store follows the folder with file watchers. Read at each attempt instead (watchers off), a
 *   certificate the operator trusted counts at the next attempt, and no watcher races node-opcua's own
 *   moves: under load, a watcher on a certificate that node-opcua had just moved from `rejected/` to
 *   `trusted/` threw an uncaught ENOENT and killed the process that owned it.
 * - node-opcua files a server certificate it did not trust in `rejected/`, and takes a certificate found in
 *   both `rejected/` and `trusted/certs/` as rejected: an operator who copied it into `trusted/certs/`, as
 *   the README says, would have seen it refused forever. Before each attempt Kiln deletes from `rejected/`
 *   every certificate that is also in `trusted/certs/`: what the operator put there wins.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";

/** Options of {@linkcode createCertificates}. */
export interface CreateCertificatesOptions {
  /** Trust (and file in `trusted/certs/`) a server certificate that is not trusted yet. */
  readonly acceptUnknown: boolean;
}

/**
 * A store over `pkiDir` for one attempt; call `initialize()` on it (it reads the folder, and may wait on the
 * folder's lock) and {@linkcode disposeCertificates} when the attempt ends. Certificates in `rejected/` that
 * are also in `trusted/certs/` are deleted from `rejected/` first.
 *
 * @throws {Deno.errors.PermissionDenied} when the PKI folder cannot be read or written.
 */
export async function createCertificates(
  pkiDir: string,
  options: CreateCertificatesOptions,
): Promise<OPCUACertificateManager> {
  await forgetRejectedTrusted(pkiDir);
  return new OPCUACertificateManager({
    rootFolder: pkiDir,
    automaticallyAcceptUnknownCertificate: options.acceptUnknown,
    disableFileWatchers: true,
  });
}

/**
 * Disposes a store made by {@linkcode createCertificates}, whatever node-opcua's clients counted (see the
 * module doc). Waits for an `initialize()` in progress: bound it.
 */
export async function disposeCertificates(certificates: OPCUACertificateManager): Promise<void> {
  certificates.referenceCounter = 0;
  // "Already disposing" when a node-opcua client got there first: then it is being disposed anyway.
  await certificates.dispose().catch(() => {});
}

/** Deletes from `<pkiDir>/rejected` each certificate that `<pkiDir>/trusted/certs` also holds. */
async function forgetRejectedTrusted(pkiDir: string): Promise<void> {
  const trusted = await readCertificates(`${pkiDir}/trusted/certs`);
  if (trusted.size === 0) return;
  for (const [certificate, path] of await readCertificates(`${pkiDir}/rejected`)) {
    if (trusted.has(certificate)) await Deno.remove(path).catch(() => {});
  }
}

/** The certificates in `folder` (the first of each file, as base64 DER) to the file holding them. */
async function readCertificates(folder: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(folder));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return found;
    throw err;
  }
  for (const entry of entries) {
    if (!entry.isFile) continue;
    const path = `${folder}/${entry.name}`;
    const certificate = firstCertificate(await Deno.readFile(path));
    if (certificate) found.set(certificate, path);
  }
  return found;
}

/** The first certificate of a PEM file, or of a DER one, as base64 DER; `null` for an empty file. */
function firstCertificate(bytes: Uint8Array): string | null {
  if (bytes.length === 0) return null;
  const pem = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(
    new TextDecoder().decode(bytes),
  );
  return pem ? pem[1]!.replace(/\s+/g, "") : Buffer.from(bytes).toString("base64");
}
