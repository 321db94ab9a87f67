/**
 * Kiln bundles: an OCI image layout (image-spec `image-layout.md`: `oci-layout`, `index.json`,
 * `blobs/sha256/<hex>`) that carries module artifacts exactly as a registry holds them (the CNCF Wasm
 * layout of `artifact.ts`: config, one `application/wasm` layer, the signature bundle as a second artifact
 * whose `subject` names the module's manifest), and the Kiln deployment manifest as an artifact of its own.
 *
 * `index.json` lists each module's manifest with the reference it had (`org.opencontainers.image.ref.name`,
 * whose grammar allows a whole `host:port/repo:tag[@sha256:...]`), each signature manifest (an image layout
 * has no referrers API, so the index is where they are found; their `subject` says what they sign), and the
 * deployment manifest (`ref.name` {@linkcode DEPLOYMENT_REF_NAME}). A reader checks every blob against its
 * digest before it reads anything from it.
 *
 * @module
 */
import { KilnError } from "../errors.ts";
import type { RegistryClient } from "./client.ts";
import { type Descriptor, isDescriptor, OCI_INDEX, OCI_MANIFEST, sha256Digest } from "./descriptor.ts";
import {
  type ArtifactParts,
  MAX_CONFIG_BYTES,
  MAX_SIGNATURE_BYTES,
  type ModuleArtifact,
  OCI_EMPTY_MEDIA_TYPE,
  SIGNATURE_ARTIFACT_TYPE,
  WASM_CONFIG_MEDIA_TYPE,
  WASM_LAYER_MEDIA_TYPE,
  type WasmConfig,
} from "./artifact.ts";

export {
  type ArtifactParts,
  buildModuleArtifact,
  type BuildModuleOptions,
  type ModuleArtifact,
} from "./artifact.ts";
import { RegistryProtocolError } from "./errors.ts";

/** The `oci-layout` file's version. */
export const OCI_LAYOUT_VERSION = "1.0.0";
/** The deployment manifest artifact's `artifactType` and layer media type (the manifest's YAML text). */
export const DEPLOYMENT_ARTIFACT_TYPE = "application/vnd.kiln.deployment.v1+yaml";
/** The `ref.name` of the deployment manifest in `index.json`. */
export const DEPLOYMENT_REF_NAME = "kiln-deployment";
/** The annotation naming an entry of `index.json` (image-spec `annotations.md`). */
export const REF_NAME = "org.opencontainers.image.ref.name";
/** The largest bundle read, bytes (everything is checked in memory before anything is imported). */
export const MAX_BUNDLE_BYTES = 512 * 1024 * 1024;
/** The largest module layer accepted, bytes (the registry client's blob limit). */
export const MAX_MODULE_BYTES = 32 * 1024 * 1024;

const TITLE = "org.opencontainers.image.title";
const CREATED = "org.opencontainers.image.created";
const EMPTY_JSON = new TextEncoder().encode("{}");
const BLOB_PATH = /^blobs\/sha256\/([a-f0-9]{64})$/;

/** A bundle (an OCI image layout) that is malformed, incomplete or not a Kiln bundle. */
export class BundleError extends KilnError {
  readonly code = "bundle_invalid";
  readonly kind = "invalid";
  /** @param where the bundle (its path) and the part at fault, e.g. `bundle.tar: index.json`. */
  constructor(readonly where: string, detail: string, options?: ErrorOptions) {
    super(`Invalid bundle ${where}: ${detail}`, options);
  }
}

/** A blob of a bundle whose content does not match its digest: the bundle was altered or damaged. */
export class BundleDigestError extends KilnError {
  readonly code = "bundle_digest_mismatch";
  readonly kind = "rejected";
  constructor(readonly blob: string, readonly expected: string, readonly actual: string) {
    super(`Refused bundle blob "${blob}": its content has digest "${actual}", expected "${expected}"`);
  }
}

/**
 * A module of a bundle that the importing gateway refuses (unsigned under `signatures: required`, a
 * signature from a root it does not trust...): nothing of the bundle is imported. `reason` is the signature
 * check's (`unsigned`, `untrusted_root`...), the cause says the rest.
 */
export class BundleModuleRefusedError extends KilnError {
  readonly code = "bundle_module_refused";
  readonly kind = "rejected";
  constructor(
    readonly bundle: string,
    readonly reference: string,
    readonly module: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(
      `Refused bundle "${bundle}": module "${module}" (image "${reference}"): ` +
        `${(options?.cause as Error | undefined)?.message ?? reason}; nothing was imported`,
      options,
    );
  }
}

/** The files of a layout, by path relative to its root (`index.json`, `blobs/sha256/<hex>`...). */
export type LayoutFiles = Map<string, Uint8Array>;

function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

async function descriptorOf(bytes: Uint8Array): Promise<{ digest: string; size: number }> {
  return { digest: await sha256Digest(bytes), size: bytes.length };
}

/** Builds the deployment manifest's artifact: an empty config and one layer, the YAML text. */
export async function buildDeploymentArtifact(yaml: string, created = new Date()): Promise<ArtifactParts> {
  const text = new TextEncoder().encode(yaml);
  const manifest = encode({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: DEPLOYMENT_ARTIFACT_TYPE,
    config: { mediaType: OCI_EMPTY_MEDIA_TYPE, ...await descriptorOf(EMPTY_JSON), data: "e30=" },
    layers: [{ mediaType: DEPLOYMENT_ARTIFACT_TYPE, ...await descriptorOf(text) }],
    annotations: { [CREATED]: created.toISOString() },
  });
  return { manifest, digest: await sha256Digest(manifest), blobs: [EMPTY_JSON, text] };
}

/**
 * Copies a module artifact and its signatures from a registry as they are stored there (the same
 * manifest bytes, so the same digests), checking every digest and the module layout.
 *
 * @throws {RegistryProtocolError} when the reference is not a Wasm module artifact
 * @throws {import("./errors.ts").RegistryHttpError | import("./errors.ts").RegistryDigestError} as the client
 */
export async function copyModuleArtifact(
  client: RegistryClient,
  ref: { repository: string; tag: string | null; digest: string | null },
): Promise<ModuleArtifact> {
  const { repository } = ref;
  const reference = ref.digest ?? ref.tag;
  if (reference === null) throw new TypeError("copyModuleArtifact needs a tag or a digest");
  const fetched = await client.getManifest(repository, reference, [OCI_MANIFEST]);
  const where = { registry: client.registry, repository, reference };
  let parsed: ParsedModuleManifest;
  try {
    parsed = parseModuleManifest(fetched.bytes);
  } catch (err) {
    throw new RegistryProtocolError(where, (err as Error).message);
  }
  const config = await client.getBlob(repository, parsed.config.digest, MAX_CONFIG_BYTES);
  const wasm = await client.getBlob(repository, parsed.layer.digest, MAX_MODULE_BYTES);
  const referrers = await client.listReferrers(repository, fetched.digest, SIGNATURE_ARTIFACT_TYPE);
  const signatures: ArtifactParts[] = [];
  for (const d of referrers.descriptors.slice(0, 8)) {
    const sig = await client.getManifest(repository, d.digest, [OCI_MANIFEST]);
    const s = parseSignatureManifest(sig.bytes);
    // The fallback index is written by clients, not the registry: take only what names this manifest.
    if (s === null || s.subject !== fetched.digest) continue;
    const blobs: Uint8Array[] = [];
    for (const b of s.blobs) blobs.push(await client.getBlob(repository, b.digest, MAX_SIGNATURE_BYTES));
    signatures.push({ manifest: sig.bytes, digest: sig.digest, blobs });
  }
  return { manifest: fetched.bytes, digest: fetched.digest, blobs: [config, wasm], signatures };
}

/** Collects artifacts into the files of an image layout. */
export class LayoutBuilder {
  readonly #blobs = new Map<string, Uint8Array>();
  readonly #index: Descriptor[] = [];

  async #put(bytes: Uint8Array): Promise<string> {
    const digest = await sha256Digest(bytes);
    this.#blobs.set(digest, bytes);
    return digest;
  }

  async #add(parts: ArtifactParts, artifactType: string, annotations?: Record<string, string>) {
    for (const b of parts.blobs) await this.#put(b);
    await this.#put(parts.manifest);
    if (
      this.#index.some((d) =>
        d.digest === parts.digest && d.annotations?.[REF_NAME] === annotations?.[REF_NAME]
      )
    ) {
      return;
    }
    this.#index.push({
      mediaType: OCI_MANIFEST,
      digest: parts.digest,
      size: parts.manifest.length,
      artifactType,
      ...(annotations && { annotations }),
    });
  }

  /** Adds a module artifact under `reference` (as a manifest names it), with its signatures. */
  async addModule(reference: string, artifact: ModuleArtifact): Promise<void> {
    await this.#add(artifact, WASM_CONFIG_MEDIA_TYPE, { [REF_NAME]: reference });
    for (const s of artifact.signatures) await this.#add(s, SIGNATURE_ARTIFACT_TYPE);
  }

  /** Adds the deployment manifest (at most one). */
  async addDeployment(parts: ArtifactParts): Promise<void> {
    if (this.#index.some((d) => d.annotations?.[REF_NAME] === DEPLOYMENT_REF_NAME)) {
      throw new TypeError("a bundle holds one deployment manifest");
    }
    await this.#add(parts, DEPLOYMENT_ARTIFACT_TYPE, { [REF_NAME]: DEPLOYMENT_REF_NAME });
  }

  /** The layout's files: `oci-layout`, `index.json` and every blob. */
  files(): LayoutFiles {
    const files: LayoutFiles = new Map();
    files.set("oci-layout", encode({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
    files.set("index.json", encode({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: this.#index }));
    for (const [digest, bytes] of this.#blobs) files.set(`blobs/sha256/${digest.slice(7)}`, bytes);
    return files;
  }
}

/** A module read from a bundle, every digest checked (its signature not yet: that is the importer's). */
export interface BundledModule {
  /** The reference it was bundled under. */
  readonly reference: string;
  /** Its image manifest's digest. */
  readonly manifestDigest: string;
  readonly wasm: Uint8Array;
  /** The layer's title, or null. */
  readonly fileName: string | null;
  readonly config: WasmConfig;
  /** Its signature bundles, newest first; empty when unsigned. */
  readonly signatures: readonly Uint8Array[];
}

/** A bundle read and checked by {@linkcode readLayout}. */
export interface Bundle {
  readonly modules: readonly BundledModule[];
  /** The deployment manifest's YAML text, or null when the bundle has none. */
  readonly deployment: string | null;
}

interface ParsedModuleManifest {
  readonly config: Descriptor;
  readonly layer: Descriptor;
}

/** Checks a module manifest's layout as `pullModule` does; throws a plain Error saying what is wrong. */
function parseModuleManifest(bytes: Uint8Array): ParsedModuleManifest {
  let m: { mediaType?: unknown; config?: unknown; layers?: unknown };
  try {
    m = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error("not a Wasm module artifact: the manifest is not JSON");
  }
  if (m === null || typeof m !== "object") throw new Error("not a Wasm module artifact: not a JSON object");
  if (m.mediaType !== OCI_MANIFEST) throw new Error(`its media type is "${String(m.mediaType)}"`);
  if (!isDescriptor(m.config) || m.config.mediaType !== WASM_CONFIG_MEDIA_TYPE) {
    throw new Error(`not a Wasm module artifact: its config is not a "${WASM_CONFIG_MEDIA_TYPE}" descriptor`);
  }
  const layers = Array.isArray(m.layers) ? m.layers : [];
  const wasm = layers.filter((l) => isDescriptor(l) && l.mediaType === WASM_LAYER_MEDIA_TYPE);
  if (layers.length !== 1 || wasm.length !== 1) {
    throw new Error(
      `not a Wasm module artifact: ${layers.length} layers, expected one "${WASM_LAYER_MEDIA_TYPE}"`,
    );
  }
  const layer = wasm[0] as Descriptor;
  if (layer.size > MAX_MODULE_BYTES) {
    throw new Error(`its module is ${layer.size} bytes, over ${MAX_MODULE_BYTES}`);
  }
  if (m.config.size > MAX_CONFIG_BYTES) throw new Error(`its config is over ${MAX_CONFIG_BYTES} bytes`);
  return { config: m.config, layer };
}

/** A signature manifest's subject and blobs, or null when it is not one of ours. */
function parseSignatureManifest(
  bytes: Uint8Array,
): { subject: string; blobs: Descriptor[]; bundle: Descriptor } | null {
  let m: { config?: unknown; layers?: unknown; subject?: unknown } | null;
  try {
    m = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
  if (m === null || typeof m !== "object" || !isDescriptor(m.subject) || !isDescriptor(m.config)) return null;
  const bundle = Array.isArray(m.layers)
    ? m.layers.find((l) => isDescriptor(l) && l.mediaType === SIGNATURE_ARTIFACT_TYPE) as
      | Descriptor
      | undefined
    : undefined;
  if (bundle === undefined || bundle.size > MAX_SIGNATURE_BYTES || m.config.size > MAX_CONFIG_BYTES) {
    return null;
  }
  return { subject: m.subject.digest, blobs: [m.config, bundle], bundle };
}

/**
 * Reads a layout's files: checks `oci-layout`, every blob against its digest (all of them, listed or not),
 * then every entry of `index.json` and what it names.
 *
 * @param name the bundle's path, for messages.
 * @throws {BundleDigestError} when a blob does not match its digest (naming the blob)
 * @throws {BundleError} when a file is missing, malformed, or a module artifact is not one
 */
export async function readLayout(files: LayoutFiles, name: string): Promise<Bundle> {
  const text = (path: string) => {
    const bytes = files.get(path);
    if (bytes === undefined) throw new BundleError(`"${name}"`, `it has no ${path}`);
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    } catch (err) {
      throw new BundleError(`"${name}"`, `${path} is not JSON`, { cause: err });
    }
  };
  const layout = text("oci-layout") as { imageLayoutVersion?: unknown } | null;
  if (layout?.imageLayoutVersion !== OCI_LAYOUT_VERSION) {
    throw new BundleError(`"${name}"`, `oci-layout has version "${String(layout?.imageLayoutVersion)}"`);
  }
  const blobs = new Map<string, Uint8Array>();
  for (const [path, bytes] of files) {
    const hex = BLOB_PATH.exec(path)?.[1];
    if (hex === undefined) {
      if (path.startsWith("blobs/")) throw new BundleError(`"${name}"`, `"${path}" is not a sha256 blob`);
      continue;
    }
    const actual = await sha256Digest(bytes);
    if (actual !== `sha256:${hex}`) throw new BundleDigestError(path, `sha256:${hex}`, actual);
    blobs.set(`sha256:${hex}`, bytes);
  }
  const blob = (d: Descriptor, what: string): Uint8Array => {
    const bytes = blobs.get(d.digest);
    if (bytes === undefined) throw new BundleError(`"${name}"`, `${what} "${d.digest}" is missing`);
    if (bytes.length !== d.size) {
      throw new BundleError(
        `"${name}"`,
        `${what} "${d.digest}" is ${bytes.length} bytes, its descriptor says ${d.size}`,
      );
    }
    return bytes;
  };
  const index = text("index.json") as { manifests?: unknown } | null;
  if (!Array.isArray(index?.manifests) || !index.manifests.every(isDescriptor)) {
    throw new BundleError(`"${name}"`, "index.json has no list of sha256 descriptors");
  }
  const entries = index.manifests as Descriptor[];
  const signatures = new Map<string, { created: string; bytes: Uint8Array }[]>();
  for (const d of entries.filter((e) => e.artifactType === SIGNATURE_ARTIFACT_TYPE)) {
    const s = parseSignatureManifest(blob(d, "signature manifest"));
    if (s === null) throw new BundleError(`"${name}"`, `signature manifest "${d.digest}" is malformed`);
    blob(s.blobs[0]!, "signature config");
    const list = signatures.get(s.subject) ?? [];
    list.push({ created: d.annotations?.[CREATED] ?? "", bytes: blob(s.bundle, "signature bundle") });
    signatures.set(s.subject, list);
  }
  const modules: BundledModule[] = [];
  let deployment: string | null = null;
  for (const d of entries) {
    const ref = d.annotations?.[REF_NAME];
    if (d.artifactType === DEPLOYMENT_ARTIFACT_TYPE && ref === DEPLOYMENT_REF_NAME) {
      let layer: unknown;
      try {
        const m = JSON.parse(new TextDecoder().decode(blob(d, "deployment manifest"))) as {
          layers?: unknown;
        };
        layer = Array.isArray(m?.layers) ? m.layers[0] : undefined;
      } catch (err) {
        if (err instanceof BundleError) throw err;
        throw new BundleError(`"${name}"`, "the deployment manifest is not JSON", { cause: err });
      }
      if (!isDescriptor(layer)) throw new BundleError(`"${name}"`, "the deployment manifest has no layer");
      try {
        deployment = new TextDecoder("utf-8", { fatal: true }).decode(blob(layer, "deployment text"));
      } catch (err) {
        if (err instanceof BundleError) throw err;
        throw new BundleError(`"${name}"`, "the deployment manifest is not UTF-8 text", { cause: err });
      }
      continue;
    }
    if (d.artifactType !== WASM_CONFIG_MEDIA_TYPE) continue;
    if (typeof ref !== "string") {
      throw new BundleError(`"${name}"`, `module "${d.digest}" has no ${REF_NAME}`);
    }
    const bytes = blob(d, `module manifest of "${ref}"`);
    let parsed: ParsedModuleManifest;
    try {
      parsed = parseModuleManifest(bytes);
    } catch (err) {
      throw new BundleError(`"${name}": "${ref}"`, (err as Error).message);
    }
    let config: WasmConfig;
    try {
      config = JSON.parse(new TextDecoder().decode(blob(parsed.config, `config of "${ref}"`)));
    } catch (err) {
      throw new BundleError(`"${name}": "${ref}"`, "its config is not JSON", { cause: err });
    }
    if (config?.architecture !== "wasm") {
      throw new BundleError(`"${name}": "${ref}"`, "its config is not Wasm's");
    }
    const title = parsed.layer.annotations?.[TITLE];
    const sigs = [...signatures.get(d.digest) ?? []].sort((a, b) => b.created.localeCompare(a.created));
    modules.push({
      reference: ref,
      manifestDigest: d.digest,
      wasm: blob(parsed.layer, `module layer of "${ref}"`),
      fileName: typeof title === "string" ? title : null,
      config,
      signatures: sigs.map((s) => s.bytes),
    });
  }
  return { modules, deployment };
}
