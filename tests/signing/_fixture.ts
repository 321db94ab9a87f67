/**
 * Shared pieces of the signing tests: a valid attestation, signing with a test PKI, a verification context
 * that passes, and an assertion that a verification is refused for a named reason with a message that names
 * the thing at fault.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createTrustStore,
  type ModuleAttestation,
  SignatureError,
  type SignatureReason,
  signModule,
  type TrustStore,
  type VerifyContext,
} from "../../signing/mod.ts";
import type { TestPki } from "./_pki.ts";

/** The repository root. */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** Two real modules of the repository. */
export const FFT = await Deno.readFile(`${ROOT}modules/fft/fft.wasm`);
export const ANOMALY = await Deno.readFile(`${ROOT}modules/anomaly/anomaly.wasm`);

/** A valid attestation; `catalog` fields can be overridden. */
export function attestation(catalog: Partial<ModuleAttestation["catalog"]> = {}): ModuleAttestation {
  return {
    build: {
      compiler: "clang 19.1.7",
      wasm_backend: "wasm32-unknown-unknown",
      source_repository: "https://git.plant.example/controls/fft",
      commit: "3f2a9c1d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a49",
      attestation_url: "https://ci.plant.example/builds/812/attestation",
    },
    catalog: {
      version: "1.2.0",
      hardware: ["arm64", "x86_64"],
      min_runtime_version: "0.1.0",
      capabilities: ["read:sim:vibration_1", "write:mqtt:plant/#", "write:gpio:pin_9"],
      max_memory_mb: 8,
      ...catalog,
    },
  };
}

/** Signs `wasm` as `name` with the PKI's developer key and chain (developer, intermediate). */
export async function sign(
  pki: TestPki,
  wasm: Uint8Array,
  options: { name?: string; attestation?: ModuleAttestation; chain?: string[]; key?: string; now?: Date } =
    {},
): Promise<string> {
  const signed = await signModule(wasm, {
    name: options.name ?? "fft",
    privateKey: options.key ?? pki.developer.keyPem,
    certificateChain: options.chain ?? [pki.developer.certPem, pki.intermediate.certPem],
    attestation: options.attestation ?? attestation(),
    ...(options.now ? { now: options.now } : {}),
  });
  return signed.text;
}

/** A trust store of the PKI's root and the given CRLs. */
export function trustOf(pki: TestPki, crls: string[] = [], requireCrls = false): TrustStore {
  return createTrustStore({
    roots: [{ source: pki.root.certPath, pem: pki.root.certPem }],
    crls: crls.map((data, i) => ({ source: `crl${i}`, data })),
    requireCrls,
  });
}

/** A context under which the default signed fft verifies. */
export function context(trust: TrustStore, over: Partial<VerifyContext> = {}): VerifyContext {
  return {
    trust,
    moduleName: "fft",
    gateway: { hardware: "arm64", runtimeVersion: "0.1.0" },
    required: { capabilities: ["read:sim:vibration_1", "write:mqtt:plant/#"], maxMemoryMb: 4 },
    ...over,
  };
}

/**
 * Asserts `promise` rejects with a {@linkcode SignatureError} of `reason` whose message matches every
 * pattern; returns the error.
 */
export async function refused(
  promise: Promise<unknown>,
  reason: SignatureReason,
  ...patterns: (RegExp | string)[]
): Promise<SignatureError> {
  let error: unknown = null;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof SignatureError, `expected a SignatureError (${reason}), got ${error}`);
  assert.equal(error.code, "signature_invalid");
  assert.equal(error.reason, reason, error.message);
  for (const p of patterns) {
    if (typeof p === "string") assert.ok(error.message.includes(p), `"${p}" is not in: ${error.message}`);
    else assert.match(error.message, p);
  }
  return error;
}

/** Parsed JSON a test edits freely. */
// deno-lint-ignore no-explicit-any
export type Json = Record<string, any>;

/** Returns the bundle `text` with `edit` applied to its parsed JSON. */
export function editBundle(text: string, edit: (bundle: Json) => void): string {
  const bundle = JSON.parse(text) as Json;
  edit(bundle);
  return JSON.stringify(bundle);
}
