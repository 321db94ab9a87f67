/**
 * The image cache index: for each OCI reference a manifest names (`image:`), what its last pull resolved to
 * (the image manifest's digest, the module's and its signature bundle's blob digests) and when. The gateway
 * reads it when the registry cannot be reached, and the blob collector keeps the digests it names.
 *
 * @example
 * ```ts ignore
 * putImageRef(store.db, { ref, manifestDigest, wasmSha256, signatureSha256: null, pulledAt: new Date() });
 * getImageRef(store.db, ref)?.wasmSha256;
 * ```
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";

/** One reference's last pull. */
export interface ImageRef {
  /** The reference as the manifest writes it. */
  ref: string;
  /** The image manifest's digest, `sha256:<hex>`. */
  manifestDigest: string;
  /** The module's SHA-256, lowercase hex (its blob's name). */
  wasmSha256: string;
  /** The signature bundle's SHA-256, lowercase hex, or null for an unsigned image. */
  signatureSha256: string | null;
  /** When it was pulled, ISO 8601 UTC. */
  pulledAt: string;
}

interface Row {
  ref: string;
  manifest_digest: string;
  wasm_sha256: string;
  signature_sha256: string | null;
  pulled_at: string;
}

/** Records (or replaces) a reference's last pull. */
export function putImageRef(db: DatabaseSync, r: ImageRef): void {
  db.prepare(
    `INSERT INTO image_refs (ref, manifest_digest, wasm_sha256, signature_sha256, pulled_at)
     VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (ref) DO UPDATE SET manifest_digest = excluded.manifest_digest,
       wasm_sha256 = excluded.wasm_sha256, signature_sha256 = excluded.signature_sha256,
       pulled_at = excluded.pulled_at`,
  ).run(r.ref, r.manifestDigest, r.wasmSha256, r.signatureSha256, r.pulledAt);
}

/** A reference's last pull, or null when it was never pulled here. */
export function getImageRef(db: DatabaseSync, ref: string): ImageRef | null {
  const row = db.prepare("SELECT * FROM image_refs WHERE ref = ?").get(ref) as Row | undefined;
  return row === undefined ? null : fromRow(row);
}

/** The last pull of an image manifest digest (any reference that resolved to it), or null. */
export function getImageRefByDigest(db: DatabaseSync, manifestDigest: string): ImageRef | null {
  const row = db.prepare(
    "SELECT * FROM image_refs WHERE manifest_digest = ? ORDER BY pulled_at DESC LIMIT 1",
  ).get(manifestDigest) as Row | undefined;
  return row === undefined ? null : fromRow(row);
}

/** Every blob digest (lowercase hex) the index names: the collector keeps them. */
export function imageRefDigests(db: DatabaseSync): Set<string> {
  const out = new Set<string>();
  const rows = db.prepare("SELECT wasm_sha256, signature_sha256 FROM image_refs").all() as unknown as Row[];
  for (const r of rows) {
    out.add(r.wasm_sha256);
    if (r.signature_sha256 !== null) out.add(r.signature_sha256);
  }
  return out;
}

function fromRow(r: Row): ImageRef {
  return {
    ref: r.ref,
    manifestDigest: r.manifest_digest,
    wasmSha256: r.wasm_sha256,
    signatureSha256: r.signature_sha256,
    pulledAt: r.pulled_at,
  };
}
