/**
 * Signed modules: a module is signed by its developer's Ed25519 key in a DSSE envelope whose payload is an
 * in-toto Statement (the module's name and SHA-256, and Kiln's build and catalog attestation), bundled with
 * the developer's X.509 certificate chain in a `.sig` file beside the module. A gateway verifies the
 * signature, the chain up to a root it trusts, validity periods and CRLs, and that the attestation fits the
 * gateway and the manifest. The formats are in `signing/README.md`.
 *
 * This folder imports only `errors.ts` from the rest of Kiln.
 *
 * @example
 * ```ts ignore
 * import { loadTrustStore, verifyModule } from "./signing/mod.ts";
 *
 * const trust = await loadTrustStore({ roots: ["ca/root.pem"], crls: ["ca/root.crl", "ca/intermediate.crl"] });
 * const wasm = await Deno.readFile("fft.wasm");
 * const verified = await verifyModule(wasm, await Deno.readFile("fft.wasm.sig"), {
 *   trust,
 *   moduleName: "fft",
 *   gateway: { hardware: "arm64", runtimeVersion: "0.1.0" },
 *   required: { capabilities: ["read:sim:vibration_1"], maxMemoryMb: 4 },
 * });
 * console.log(verified.signer.subject, verified.version);
 * ```
 *
 * @module
 */
export {
  type CertificateRef,
  PkiError,
  SIGNATURE_REASONS,
  SignatureError,
  type SignatureErrorOptions,
  type SignatureReason,
  SigningError,
} from "./errors.ts";
export {
  BUNDLE_MEDIA_TYPE,
  MAX_BUNDLE_BYTES,
  MAX_CHAIN_LENGTH,
  MAX_PAYLOAD_BYTES,
  MAX_SIGNATURES,
  type ReadBundle,
  readBundle,
  serializeBundle,
  type SignatureBundle,
} from "./bundle.ts";
export {
  type DsseEnvelope,
  type DsseSignature,
  IN_TOTO_PAYLOAD_TYPE,
  pae,
  signEnvelope,
  verifySignature,
} from "./dsse.ts";
export {
  type BuildFacts,
  CAPABILITY_SHAPE,
  type CatalogFacts,
  createStatement,
  KILN_PREDICATE_TYPE,
  type ModuleAttestation,
  type Statement,
  STATEMENT_TYPE,
  validateAttestation,
  validateStatement,
  type Validation,
} from "./statement.ts";
export {
  createTrustStore,
  loadTrustStore,
  MAX_CRL_BYTES,
  type ParsedCrl,
  type TrustStore,
  type TrustStoreOptions,
} from "./trust.ts";
export {
  type ChainLink,
  type CoversFn,
  type VerifiedModule,
  type VerifyContext,
  verifyModule,
} from "./verify.ts";
export { importSigningKey, type SignedModule, signModule, type SignModuleOptions } from "./sign.ts";
export {
  createLabCa,
  createSigningRequest,
  issueCertificate,
  type LabCa,
  type PemIdentity,
  updateCrl,
} from "./pki.ts";
export { parseCertificate, parseCertificates, type ParsedCertificate } from "./_x509.ts";
export { fingerprintOf, type PemBlock, pemBlocks, sha256Hex } from "./_encoding.ts";
