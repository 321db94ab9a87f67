/**
 * Kiln modules in OCI registries: a small OCI Distribution client ({@linkcode RegistryClient}), image
 * reference parsing, and the module artifact layout (CNCF Wasm OCI artifact, with the signature bundle as an
 * OCI 1.1 referrer and in the referrers tag schema). Works with any Distribution registry (Distribution 2.8
 * and 3, Zot, Harbor, GHCR, cloud registries). For air-gapped plants, the same artifacts in an OCI image
 * layout, a directory or one tar ({@linkcode LayoutBuilder}, {@linkcode readLayout}, `docs/bundle.md`).
 *
 * This folder imports only `errors.ts` from the rest of Kiln.
 *
 * @example
 * ```ts ignore
 * import { parseImageReference, pullModule, RegistryClient } from "./registry/mod.ts";
 *
 * const ref = parseImageReference("registry.plant.local:5000/analytics/fft:2.3.1");
 * using client = new RegistryClient(ref.registry, { credentials: { username: "ci", password } });
 * const pulled = await pullModule(client, ref);
 * console.log(pulled.digest, pulled.wasm.length, pulled.signatures.length);
 * ```
 *
 * @module
 */
export {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_TIMEOUT_MS,
  type FetchedManifest,
  MAX_BLOB_BYTES,
  type ReferrersSource,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryCredentials,
} from "./client.ts";
export {
  type Descriptor,
  MAX_MANIFEST_BYTES,
  OCI_INDEX,
  OCI_MANIFEST,
  referrersTag,
  sha256Digest,
} from "./descriptor.ts";
export {
  MAX_CONFIG_BYTES,
  MAX_SIGNATURE_BYTES,
  type ModuleCatalog,
  OCI_EMPTY_MEDIA_TYPE,
  type PulledModule,
  pullModule,
  type PullModuleOptions,
  type PushedModule,
  pushModule,
  type PushModuleOptions,
  SIGNATURE_ARTIFACT_TYPE,
  WASM_CONFIG_MEDIA_TYPE,
  WASM_LAYER_MEDIA_TYPE,
  type WasmConfig,
} from "./artifact.ts";
export { formatImageReference, type ImageReference, parseImageReference } from "./reference.ts";
export {
  type ArtifactParts,
  buildDeploymentArtifact,
  buildModuleArtifact,
  type BuildModuleOptions,
  type Bundle,
  BundleDigestError,
  type BundledModule,
  BundleError,
  BundleModuleRefusedError,
  copyModuleArtifact,
  DEPLOYMENT_ARTIFACT_TYPE,
  DEPLOYMENT_REF_NAME,
  LayoutBuilder,
  type LayoutFiles,
  MAX_BUNDLE_BYTES,
  type ModuleArtifact,
  OCI_LAYOUT_VERSION,
  readLayout,
} from "./layout.ts";
export { readLayoutDir, writeLayoutDir } from "./layout_dir.ts";
export { readLayoutTar, writeLayoutTar } from "./tar.ts";
export {
  describeTarget,
  ImageReferenceError,
  RegistryDigestError,
  RegistryHttpError,
  RegistryProtocolError,
  type RegistryTarget,
  RegistryTooLargeError,
  RegistryUnavailableError,
} from "./errors.ts";
