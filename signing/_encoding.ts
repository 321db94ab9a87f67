/**
 * Byte encodings the signing formats use: strict base64 (standard or URL-safe, as DSSE allows), SHA-256 in
 * lowercase hex, `SHA256:<hex>` fingerprints, and PEM blocks.
 *
 * @module
 */

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * Decodes standard or URL-safe base64 (padding optional), or returns `null` when `text` is not base64:
 * other characters, a mix of both alphabets, or a length no encoding produces.
 */
export function decodeBase64(text: string): Uint8Array | null {
  if (!BASE64.test(text) && !BASE64URL.test(text)) return null;
  const body = text.replace(/=+$/, "");
  if (body.length % 4 === 1) return null;
  if (text.length !== body.length && text.length % 4 !== 0) return null;
  const standard = body.replaceAll("-", "+").replaceAll("_", "/");
  try {
    const binary = atob(standard + "=".repeat((4 - standard.length % 4) % 4));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return null;
  }
}

/** Encodes `bytes` as standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 of `bytes` in lowercase hex (64 characters). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)));
}

/**
 * A fingerprint as Kiln shows it: `SHA256:` and the lowercase hex of the SHA-256 of the DER certificate, no
 * colons. `openssl x509 -noout -fingerprint -sha256` prints the same digits in uppercase with colons.
 */
export async function fingerprintOf(der: Uint8Array): Promise<string> {
  return `SHA256:${await sha256Hex(der)}`;
}

/** `SHA256:<hex>` from node's `fingerprint256` (`AB:CD:...`). */
export function fingerprintFromNode(fingerprint256: string): string {
  return `SHA256:${fingerprint256.replaceAll(":", "").toLowerCase()}`;
}

/** A PEM block: its label (`CERTIFICATE`, `X509 CRL`, `PRIVATE KEY`...) and its text, armour included. */
export interface PemBlock {
  readonly label: string;
  readonly text: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]*?-----END \1-----/g;

/** The PEM blocks in `text`, in order; text between blocks (comments, `openssl -text` dumps) is ignored. */
export function pemBlocks(text: string): PemBlock[] {
  return Array.from(text.matchAll(PEM_BLOCK), (m) => ({ label: m[1]!, text: `${m[0].trim()}\n` }));
}

/** PEM armour around `der`, 64 characters a line. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = encodeBase64(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The DER bytes inside one PEM block's text, or `null` when its base64 is broken. */
export function pemToDer(text: string): Uint8Array | null {
  const body = text.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, "").replace(/\s+/g, "");
  return decodeBase64(body);
}

/** The UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Normalises a certificate serial number (any case, leading zeros) to lowercase hex without leading zeros. */
export function normalizeSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+(?=.)/, "");
}
