/**
 * The signature bundle, the `.sig` file beside a module (`fft.wasm.sig`): a DSSE envelope and the
 * certificate chain of its signer, in a JSON wrapper like a Sigstore bundle's (DSSE itself has no room for
 * certificates). Every input is bounded before any work: {@linkcode readBundle} refuses an oversized or
 * unreadable bundle as `malformed` before it parses a certificate or checks a signature.
 *
 * @module
 */
import { z } from "zod";
import { decodeBase64 } from "./_encoding.ts";
import { MAX_CERTIFICATE_PEM_CHARS } from "./_x509.ts";
import type { DsseEnvelope } from "./dsse.ts";
import { IN_TOTO_PAYLOAD_TYPE } from "./dsse.ts";
import { SignatureError } from "./errors.ts";

/** The bundle's media type, version 1. */
export const BUNDLE_MEDIA_TYPE = "application/vnd.kiln.signature.v1+json";

/** Largest bundle accepted, bytes (1 MiB). */
export const MAX_BUNDLE_BYTES = 1024 * 1024;
/** Largest payload accepted, bytes once decoded (256 KiB). */
export const MAX_PAYLOAD_BYTES = 256 * 1024;
/** Most certificates a bundle may carry: the signer's, intermediates, optionally the root. */
export const MAX_CHAIN_LENGTH = 5;
/** Most signatures an envelope may carry. */
export const MAX_SIGNATURES = 8;

/** A signature bundle (JSON form). */
export interface SignatureBundle {
  media_type: typeof BUNDLE_MEDIA_TYPE;
  dsse_envelope: DsseEnvelope;
  /** PEM certificates: the signing certificate first, then each issuer up to (optionally) the root. */
  certificate_chain: string[];
}

const MAX_PAYLOAD_BASE64 = Math.ceil(MAX_PAYLOAD_BYTES / 3) * 4;

const BundleSchema = z.strictObject({
  media_type: z.literal(BUNDLE_MEDIA_TYPE),
  dsse_envelope: z.strictObject({
    payloadType: z.string().max(256),
    payload: z.string().max(MAX_PAYLOAD_BASE64, `over ${MAX_PAYLOAD_BYTES} bytes once decoded`),
    signatures: z.array(z.strictObject({
      keyid: z.string().min(1).max(128),
      sig: z.string().min(1).max(256),
    })).min(1, "the envelope has no signature").max(MAX_SIGNATURES),
  }),
  certificate_chain: z.array(z.string().max(MAX_CERTIFICATE_PEM_CHARS))
    .min(1, "no certificate: the signing certificate must come first").max(MAX_CHAIN_LENGTH),
});

/** A bundle read and bounded, with its payload decoded. */
export interface ReadBundle {
  readonly bundle: SignatureBundle;
  readonly payload: Uint8Array;
}

/**
 * Reads a bundle from its file bytes or text, enforcing every bound first.
 *
 * @param module The module's name, for messages.
 * @throws {SignatureError} `malformed` naming the field: over a size bound, not JSON, a field missing or of
 * the wrong type, a `payloadType` other than in-toto's, a payload that is not base64.
 */
export function readBundle(input: Uint8Array | string, module: string | null): ReadBundle {
  const bad = (detail: string) => new SignatureError("malformed", module, detail);
  const size = typeof input === "string" ? input.length : input.byteLength;
  if (size > MAX_BUNDLE_BYTES) throw bad(`the bundle is ${size} bytes, over the ${MAX_BUNDLE_BYTES} allowed`);
  let text: string;
  try {
    text = typeof input === "string" ? input : new TextDecoder("utf-8", { fatal: true }).decode(input);
  } catch {
    throw bad("the bundle is not UTF-8 text");
  }
  if (text.length > MAX_BUNDLE_BYTES) throw bad(`the bundle is over ${MAX_BUNDLE_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad(`the bundle is not JSON (${(err as Error).message})`);
  }
  const r = BundleSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.map((p) => typeof p === "number" ? `[${p}]` : `.${String(p)}`).join("");
    throw bad(`bundle${path}: ${issue.message}`);
  }
  const bundle = r.data as SignatureBundle;
  const envelope = bundle.dsse_envelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw bad(
      `bundle.dsse_envelope.payloadType is "${
        envelope.payloadType.slice(0, 80)
      }", expected "${IN_TOTO_PAYLOAD_TYPE}"`,
    );
  }
  const payload = decodeBase64(envelope.payload);
  if (payload === null) throw bad("bundle.dsse_envelope.payload is not base64");
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw bad(
      `bundle.dsse_envelope.payload is ${payload.length} bytes, over the ${MAX_PAYLOAD_BYTES} allowed`,
    );
  }
  for (const [i, s] of envelope.signatures.entries()) {
    const sig = decodeBase64(s.sig);
    if (sig === null || sig.length !== 64) {
      throw bad(`bundle.dsse_envelope.signatures[${i}].sig is not base64 of a 64-byte Ed25519 signature`);
    }
  }
  return { bundle, payload };
}

/** The bundle as the `.sig` file holds it: indented JSON and a final newline. */
export function serializeBundle(bundle: SignatureBundle): string {
  return `${JSON.stringify(bundle, null, 2)}\n`;
}
