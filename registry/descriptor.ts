/**
 * Content descriptors and digests (image-spec `descriptor.md`), the media types of manifests and indexes,
 * and the referrers tag schema's tag name (distribution-spec 1.1).
 *
 * @module
 */

/** The OCI image manifest media type. */
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** The OCI image index media type (also the referrers API's answer and the fallback tag's content). */
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

/** The largest manifest or index the client reads, bytes (the limit the Distribution spec suggests). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A content descriptor (image-spec `descriptor.md`). */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** SHA-256 digest of `bytes` as `sha256:<hex>`. */
export async function sha256Digest(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** The referrers tag schema's tag for `digest` (`sha256:abc...` → `sha256-abc...`). */
export function referrersTag(digest: string): string {
  return digest.replace(":", "-");
}

/** True when `value` is a descriptor with a sha256 digest and a whole size. */
export function isDescriptor(value: unknown): value is Descriptor {
  const d = value as Descriptor;
  return value !== null && typeof value === "object" && typeof d.mediaType === "string" &&
    typeof d.digest === "string" && /^sha256:[a-f0-9]{64}$/.test(d.digest) && Number.isSafeInteger(d.size);
}
