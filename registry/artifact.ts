/**
 * A Kiln module as an OCI artifact, in the CNCF TAG Runtime "Wasm OCI artifact" layout: an image manifest
 * whose config (`application/vnd.wasm.config.v0+json`) holds the module's facts and whose one layer is the
 * module (`application/wasm`). Its signature bundle (`kiln sign`'s `.sig`) is a second artifact that refers
 * to it through `subject` (OCI 1.1), listed by the referrers API where the registry has one and always also
 * in the referrers tag schema's index (tag `sha256-<hex>`), for registries without it (Distribution 2.8).
 *
 * @module
 */
import type { ReferrersSource, RegistryClient } from "./client.ts";
import {
  type Descriptor,
  isDescriptor,
  MAX_MANIFEST_BYTES,
  OCI_INDEX,
  OCI_MANIFEST,
  referrersTag,
  sha256Digest,
} from "./descriptor.ts";
import { RegistryHttpError, RegistryProtocolError, RegistryTooLargeError } from "./errors.ts";

/** The config media type of the CNCF Wasm OCI artifact layout (also the manifest's `artifactType`). */
export const WASM_CONFIG_MEDIA_TYPE = "application/vnd.wasm.config.v0+json";
/** The module layer's media type. */
export const WASM_LAYER_MEDIA_TYPE = "application/wasm";
/**
 * The signature artifact's `artifactType` and layer media type: the bundle's own media type
 * (`signing/README.md`), because the layer is the whole bundle (DSSE envelope and certificate chain), not a
 * bare DSSE envelope.
 */
export const SIGNATURE_ARTIFACT_TYPE = "application/vnd.kiln.signature.v1+json";
/** The OCI 1.1 empty descriptor's media type (the signature artifact's config). */
export const OCI_EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json";
/** The largest signature bundle pulled, bytes (`signing`'s `MAX_BUNDLE_BYTES`). */
export const MAX_SIGNATURE_BYTES = 1024 * 1024;
/** The largest config blob pulled, bytes. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

const EMPTY_JSON = new TextEncoder().encode("{}");
const TITLE = "org.opencontainers.image.title";
const CREATED = "org.opencontainers.image.created";
const VERSION = "org.opencontainers.image.version";

/** The signed catalog facts a config carries (the attestation's `catalog`, `signing/README.md`). */
export interface ModuleCatalog {
  readonly version: string;
  readonly hardware: readonly string[];
  readonly min_runtime_version: string;
  readonly capabilities: readonly string[];
  readonly max_memory_mb: number;
}

/** The config blob: the CNCF layout's fields, and Kiln's facts under `kiln`. */
export interface WasmConfig {
  readonly created: string;
  readonly architecture: "wasm";
  /** `wasip1`: the CNCF layout's value for a core module (Kiln modules are core modules, not components). */
  readonly os: string;
  readonly layerDigests: readonly string[];
  readonly kiln: {
    /** The module's SHA-256, lowercase hex (as `signing` and the manifests write it). */
    readonly module_sha256: string;
    readonly signed: boolean;
    /** The signed catalog when the module is signed, else null. */
    readonly catalog: ModuleCatalog | null;
  };
}

/** What {@linkcode pushModule} uploads. */
export type PushModuleOptions = BuildModuleOptions;

/** What {@linkcode pushModule} did. */
export interface PushedModule {
  /** The module manifest's digest. */
  readonly digest: string;
  readonly manifest: Descriptor;
  /** The signature manifest's digest, or null when unsigned. */
  readonly signatureDigest: string | null;
  /** True when the registry processed `subject` itself (it answered `OCI-Subject`: it has referrers). */
  readonly referrersApi: boolean;
  /** The referrers tag schema's tag that lists the signature, or null when unsigned. */
  readonly referrersTag: string | null;
}

/** A pulled module. */
export interface PulledModule {
  /** The module manifest's digest. */
  readonly digest: string;
  readonly wasm: Uint8Array;
  /** The module layer's digest (`sha256:<hex>`), checked against `wasm`. */
  readonly moduleDigest: string;
  /** The layer's title (the pushed file name), or null. */
  readonly fileName: string | null;
  readonly config: WasmConfig;
  /** Signature bundles attached to it, newest first (by their created annotation); empty when unsigned. */
  readonly signatures: Uint8Array[];
  /** Where the signatures were listed. */
  readonly referrersSource: ReferrersSource;
}

function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

async function descriptorOf(bytes: Uint8Array): Promise<{ digest: string; size: number }> {
  return { digest: await sha256Digest(bytes), size: bytes.length };
}

/** One manifest with the blobs it names, ready to push or to go into a layout. */
export interface ArtifactParts {
  /** The manifest's exact bytes (its digest is theirs). */
  readonly manifest: Uint8Array;
  readonly digest: string;
  /** The blobs it names (config, layers). */
  readonly blobs: readonly Uint8Array[];
}

/** A module artifact and its signature artifacts. */
export interface ModuleArtifact extends ArtifactParts {
  readonly signatures: readonly ArtifactParts[];
}

/** What {@linkcode buildModuleArtifact} builds from. */
export interface BuildModuleOptions {
  readonly wasm: Uint8Array;
  /** The layer's title (`fft.wasm`). */
  readonly fileName: string;
  /** The signature bundle, or null. @default null */
  readonly signature?: Uint8Array | null;
  /** The signed catalog, or null. @default null */
  readonly catalog?: ModuleCatalog | null;
  /** @default now */
  readonly created?: Date;
}

/**
 * Builds a module artifact: its manifest's exact bytes, its blobs and its signature artifact, as
 * {@linkcode pushModule} uploads them and a bundle (`layout.ts`) holds them: for the same inputs and
 * `created`, the same digests whether a module reached a bundle from a registry or from a file.
 */
export async function buildModuleArtifact(options: BuildModuleOptions): Promise<ModuleArtifact> {
  const created = (options.created ?? new Date()).toISOString();
  const signature = options.signature ?? null;
  const layer = await descriptorOf(options.wasm);
  const config: WasmConfig = {
    created,
    architecture: "wasm",
    os: "wasip1",
    layerDigests: [layer.digest],
    kiln: {
      module_sha256: layer.digest.slice("sha256:".length),
      signed: signature !== null,
      catalog: options.catalog ?? null,
    },
  };
  const configBytes = encode(config);
  const annotations: Record<string, string> = { [CREATED]: created };
  if (options.catalog) annotations[VERSION] = options.catalog.version;
  const manifest = encode({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: WASM_CONFIG_MEDIA_TYPE,
    config: { mediaType: WASM_CONFIG_MEDIA_TYPE, ...await descriptorOf(configBytes) },
    layers: [{ mediaType: WASM_LAYER_MEDIA_TYPE, ...layer, annotations: { [TITLE]: options.fileName } }],
    annotations,
  });
  const digest = await sha256Digest(manifest);
  const signatures: ArtifactParts[] = [];
  if (signature !== null) {
    const subject: Descriptor = { mediaType: OCI_MANIFEST, digest, size: manifest.length };
    const sig = encode({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SIGNATURE_ARTIFACT_TYPE,
      config: { mediaType: OCI_EMPTY_MEDIA_TYPE, ...await descriptorOf(EMPTY_JSON), data: "e30=" },
      layers: [{ mediaType: SIGNATURE_ARTIFACT_TYPE, ...await descriptorOf(signature) }],
      subject,
      annotations: { [CREATED]: created },
    });
    signatures.push({ manifest: sig, digest: await sha256Digest(sig), blobs: [EMPTY_JSON, signature] });
  }
  return { manifest, digest, blobs: [configBytes, options.wasm], signatures };
}

/**
 * Pushes a module (config, layer, manifest tagged `tag`) and, when given, its signature as a referrer.
 *
 * @throws {RegistryHttpError} when the registry refuses an upload (`registry_unauthorized`...)
 * @throws {RegistryUnavailableError} when it cannot be reached in time
 */
export async function pushModule(
  client: RegistryClient,
  target: { repository: string; tag: string },
  options: PushModuleOptions,
): Promise<PushedModule> {
  const { repository } = target;
  const built = await buildModuleArtifact(options);
  for (const blob of built.blobs) await client.pushBlob(repository, blob);
  const pushed = await client.putManifest(repository, target.tag, {
    bytes: built.manifest,
    mediaType: OCI_MANIFEST,
  });
  const manifest: Descriptor = {
    mediaType: OCI_MANIFEST,
    digest: pushed.digest,
    size: built.manifest.length,
  };
  const signature = built.signatures[0];
  if (signature === undefined) {
    return {
      digest: pushed.digest,
      manifest,
      signatureDigest: null,
      referrersApi: false,
      referrersTag: null,
    };
  }
  const sig = await attachSignature(client, repository, manifest, signature);
  return { digest: pushed.digest, manifest, signatureDigest: sig.digest, ...sig.referrers };
}

/** Pushes a built signature artifact of `subject`, then lists it in the referrers tag schema's index. */
async function attachSignature(
  client: RegistryClient,
  repository: string,
  subject: Descriptor,
  parts: ArtifactParts,
): Promise<{ digest: string; referrers: { referrersApi: boolean; referrersTag: string } }> {
  for (const blob of parts.blobs) await client.pushBlob(repository, blob);
  const { manifest: bytes, digest } = parts;
  const created = (JSON.parse(new TextDecoder().decode(bytes)) as { annotations: Record<string, string> })
    .annotations[CREATED]!;
  const put = await client.putManifest(repository, digest, { bytes, mediaType: OCI_MANIFEST });
  // The referrers tag schema (distribution-spec 1.1, "Pushing Manifests with Subject"): an index at tag
  // sha256-<hex of the subject digest> listing every referrer. Written even when the registry answered
  // OCI-Subject, so a mirror to a registry without referrers keeps the signature findable.
  const tag = referrersTag(subject.digest);
  let manifests: Descriptor[] = [];
  try {
    const existing = await client.getManifest(repository, tag, [OCI_INDEX]);
    let list: unknown;
    try {
      list = (JSON.parse(new TextDecoder().decode(existing.bytes)) as { manifests?: unknown } | null)
        ?.manifests;
    } catch {
      throw new RegistryProtocolError(
        { registry: client.registry, repository, reference: tag },
        "the referrers tag holds something that is not a JSON index",
      );
    }
    if (Array.isArray(list)) manifests = list.filter(isDescriptor);
  } catch (err) {
    if (!(err instanceof RegistryHttpError && err.status === 404)) throw err;
  }
  if (!manifests.some((d) => d.digest === digest)) {
    manifests.push({
      mediaType: OCI_MANIFEST,
      digest,
      size: bytes.length,
      artifactType: SIGNATURE_ARTIFACT_TYPE,
      annotations: { [CREATED]: created },
    });
    const index = encode({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });
    await client.putManifest(repository, tag, { bytes: index, mediaType: OCI_INDEX });
  }
  return { digest: put.digest, referrers: { referrersApi: put.subjectProcessed, referrersTag: tag } };
}

/** Options of {@linkcode pullModule}. */
export interface PullModuleOptions {
  /** Largest module accepted, bytes. @default the client's blob limit (32 MiB) */
  readonly maxModuleBytes?: number;
}

/**
 * Pulls a module by tag or digest (a digest wins), checking every digest, the layout, and the sizes before
 * downloading, and fetches its attached signature bundles.
 *
 * @throws {RegistryHttpError} when the tag, manifest or a blob is missing (`registry_not_found`) or refused
 * @throws {RegistryDigestError} when any content does not match its digest
 * @throws {RegistryTooLargeError} when the manifest or the module is over its limit
 * @throws {RegistryProtocolError} when the artifact is not a Kiln/Wasm module artifact
 * @throws {RegistryUnavailableError} when the registry cannot be reached in time
 */
export async function pullModule(
  client: RegistryClient,
  ref: { repository: string; tag: string | null; digest: string | null },
  options: PullModuleOptions = {},
): Promise<PulledModule> {
  const { repository } = ref;
  const reference = ref.digest ?? ref.tag;
  if (reference === null) throw new TypeError("pullModule needs a tag or a digest");
  const target = { registry: client.registry, repository, reference };
  const fetched = await client.getManifest(repository, reference, [OCI_MANIFEST]);
  const bad = (detail: string) => new RegistryProtocolError(target, `not a Wasm module artifact: ${detail}`);
  let manifest: { mediaType?: unknown; config?: Descriptor; layers?: Descriptor[] };
  try {
    manifest = JSON.parse(new TextDecoder().decode(fetched.bytes));
  } catch {
    throw bad("the manifest is not JSON");
  }
  if (manifest === null || typeof manifest !== "object") throw bad("the manifest is not a JSON object");
  if (manifest.mediaType !== OCI_MANIFEST) throw bad(`its media type is "${String(manifest.mediaType)}"`);
  // Digests go into request paths: only well-formed sha256 descriptors are used.
  if (!isDescriptor(manifest.config)) throw bad("its config is not a sha256 descriptor");
  if (manifest.config.mediaType !== WASM_CONFIG_MEDIA_TYPE) {
    throw bad(`its config is "${String(manifest.config?.mediaType)}", expected "${WASM_CONFIG_MEDIA_TYPE}"`);
  }
  const layers = Array.isArray(manifest.layers) ? manifest.layers : [];
  const wasmLayers = layers.filter((l) => isDescriptor(l) && l.mediaType === WASM_LAYER_MEDIA_TYPE);
  if (layers.length !== 1 || wasmLayers.length !== 1) {
    throw bad(`it has ${layers.length} layers, expected one "${WASM_LAYER_MEDIA_TYPE}" layer`);
  }
  const layer = wasmLayers[0]!;
  const maxModule = options.maxModuleBytes ?? 32 * 1024 * 1024;
  if (!Number.isSafeInteger(layer.size) || layer.size > maxModule) {
    throw new RegistryTooLargeError(target, "the module layer", layer.size, maxModule);
  }
  if (!Number.isSafeInteger(manifest.config.size) || manifest.config.size > MAX_CONFIG_BYTES) {
    throw new RegistryTooLargeError(target, "the config", manifest.config.size, MAX_CONFIG_BYTES);
  }
  const configBytes = await client.getBlob(repository, manifest.config.digest, MAX_CONFIG_BYTES);
  let config: WasmConfig;
  try {
    config = JSON.parse(new TextDecoder().decode(configBytes));
  } catch {
    throw bad("the config is not JSON");
  }
  if (config?.architecture !== "wasm") {
    throw bad(`its config's architecture is "${String(config?.architecture)}"`);
  }
  const wasm = await client.getBlob(repository, layer.digest, maxModule);
  const title = layer.annotations?.[TITLE];
  const referrers = await client.listReferrers(repository, fetched.digest, SIGNATURE_ARTIFACT_TYPE);
  const ordered = [...referrers.descriptors].sort((a, b) =>
    (b.annotations?.[CREATED] ?? "").localeCompare(a.annotations?.[CREATED] ?? "")
  );
  const signatures: Uint8Array[] = [];
  for (const d of ordered.slice(0, 8)) {
    if (d.size > MAX_MANIFEST_BYTES) {
      throw new RegistryTooLargeError(target, "a signature manifest", d.size, MAX_MANIFEST_BYTES);
    }
    const sigManifest = await client.getManifest(repository, d.digest, [OCI_MANIFEST]);
    let parsed: { subject?: Descriptor; layers?: Descriptor[] } | null;
    try {
      parsed = JSON.parse(new TextDecoder().decode(sigManifest.bytes));
    } catch {
      continue; // not a signature manifest of ours: the bundle check would refuse it anyway
    }
    if (parsed === null || typeof parsed !== "object") continue;
    // The fallback index is written by clients, not the registry: take only what names this manifest.
    if (parsed.subject?.digest !== fetched.digest) continue;
    const sigLayer = Array.isArray(parsed.layers)
      ? parsed.layers.find((l) => isDescriptor(l) && l.mediaType === SIGNATURE_ARTIFACT_TYPE)
      : undefined;
    if (!sigLayer) continue;
    if (sigLayer.size > MAX_SIGNATURE_BYTES) {
      throw new RegistryTooLargeError(target, "a signature bundle", sigLayer.size, MAX_SIGNATURE_BYTES);
    }
    signatures.push(await client.getBlob(repository, sigLayer.digest, MAX_SIGNATURE_BYTES));
  }
  return {
    digest: fetched.digest,
    wasm,
    moduleDigest: layer.digest,
    fileName: typeof title === "string" ? title : null,
    config,
    signatures,
    referrersSource: referrers.source,
  };
}
