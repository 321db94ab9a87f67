-- Modules named by an OCI image (issue 18): what each reference resolved to at its last verified pull, so a
-- gateway starts from its blob store when the registry is down. `ref` is the reference as the manifest writes
-- it; the digests name blobs in <data>/blobs/sha256/ (kept from garbage collection while a row names them).
CREATE TABLE image_refs (
  ref               TEXT PRIMARY KEY,
  manifest_digest   TEXT NOT NULL,
  wasm_sha256       TEXT NOT NULL,
  signature_sha256  TEXT,
  pulled_at         TEXT NOT NULL
);
