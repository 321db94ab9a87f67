/**
 * Shared pieces of the registry tests: a signed module (the repository's fft, signed with a fresh test PKI)
 * and a check that a pulled signature verifies with `signing/`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { verifyModule } from "../../signing/mod.ts";
import { mintPki, type TestPki } from "../signing/_pki.ts";
import { context, FFT, sign, trustOf } from "../signing/_fixture.ts";

export { FFT };

/** A PKI and the fft module's bundle signed with it. */
export interface SignedModule {
  readonly pki: TestPki;
  readonly wasm: Uint8Array;
  readonly bundle: string;
}

/** Mints a PKI in `dir` and signs fft with it. */
export async function signedFft(dir: string): Promise<SignedModule> {
  const pki = await mintPki(dir);
  return { pki, wasm: FFT, bundle: await sign(pki, FFT) };
}

/** Asserts `bundle` is a signature of `wasm` as "fft" that verifies against the PKI's root. */
export async function assertVerifies(
  signed: SignedModule,
  wasm: Uint8Array,
  bundle: Uint8Array,
): Promise<void> {
  const verified = await verifyModule(wasm, bundle, context(trustOf(signed.pki)));
  assert.equal(verified.version, "1.2.0");
}
