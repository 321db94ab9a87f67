/**
 * DSSE, the Dead Simple Signing Envelope (github.com/secure-systems-lab/dsse, `envelope.md` and
 * `protocol.md`), the envelope of in-toto and Sigstore: a payload, its type, and signatures over the
 * pre-authentication encoding (PAE) of both, so a signature can never be replayed under another type.
 * Signatures are Ed25519 through WebCrypto.
 *
 * @module
 */
import { decodeBase64, encodeBase64, utf8 } from "./_encoding.ts";
import { ED25519 } from "./_x509.ts";

/** The payload type of an in-toto Statement in a DSSE envelope. */
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

/** One signature of an envelope: the key it claims (`SHA256:<hex>` of the signing certificate) and its bytes. */
export interface DsseSignature {
  keyid: string;
  /** Base64 of the 64-byte Ed25519 signature over the PAE. */
  sig: string;
}

/** A DSSE envelope (JSON form). */
export interface DsseEnvelope {
  payloadType: string;
  /** Base64 of the payload bytes. */
  payload: string;
  signatures: DsseSignature[];
}

/**
 * The pre-authentication encoding: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where `LEN` is the
 * byte length in ASCII decimal without leading zeros and `type` is UTF-8 (DSSE `protocol.md`).
 */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = utf8(payloadType);
  const head = utf8(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

/**
 * Signs `payload` into a one-signature envelope.
 *
 * @param privateKey An Ed25519 WebCrypto key with usage `sign`.
 * @param keyid The signer's key id, `SHA256:<hex>` of its certificate.
 */
export async function signEnvelope(
  payload: Uint8Array,
  options: { payloadType?: string; privateKey: CryptoKey; keyid: string },
): Promise<DsseEnvelope> {
  const payloadType = options.payloadType ?? IN_TOTO_PAYLOAD_TYPE;
  const sig = new Uint8Array(
    await crypto.subtle.sign(
      ED25519,
      options.privateKey,
      pae(payloadType, payload) as Uint8Array<ArrayBuffer>,
    ),
  );
  return {
    payloadType,
    payload: encodeBase64(payload),
    signatures: [{ keyid: options.keyid, sig: encodeBase64(sig) }],
  };
}

/**
 * True when `sig` (base64) is a valid Ed25519 signature of the envelope's PAE under `publicKey`; false for
 * a wrong signature and for a `sig` that is not base64 of 64 bytes.
 */
export async function verifySignature(
  payloadType: string,
  payload: Uint8Array,
  sig: string,
  publicKey: CryptoKey,
): Promise<boolean> {
  const bytes = decodeBase64(sig);
  if (bytes === null || bytes.length !== 64) return false;
  return await crypto.subtle.verify(
    ED25519,
    publicKey,
    bytes as Uint8Array<ArrayBuffer>,
    pae(payloadType, payload) as Uint8Array<ArrayBuffer>,
  );
}
