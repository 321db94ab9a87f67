/**
 * One connection attempt of the OPC UA connector and what hangs off it: the node-opcua client made for the
 * endpoint's security settings, the user identity it opens its session with, and how the whole link is
 * dropped again. Kiln makes a fresh link for every attempt (see `connector.ts`), so a link is never reused.
 *
 * @module
 */
import {
  type ClientSession,
  type ClientSubscription,
  type DataType,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  type UserIdentityInfo,
  UserTokenType,
} from "node-opcua-client";
import type { OPCUACertificateManager } from "node-opcua-certificate-manager";
import type { OpcuaEndpoint } from "./config.ts";

/** One attempt's client and what hangs off it. */
export interface Link {
  readonly id: number;
  readonly client: OPCUAClient;
  session: ClientSession | null;
  subscription: ClientSubscription | null;
  /** Node ids to their built-in data type, read before the first write of each. */
  readonly dataTypes: Map<string, DataType>;
  /** Cancels the publish watchdog. */
  cancelWatchdog: (() => void) | null;
  up: boolean;
}

/**
 * Bounds one request by the endpoint's `timeout_ms`: rejects with an `OpcuaTimeoutError` naming `what`
 * when `promise` takes longer.
 */
export type Timed = <T>(promise: Promise<T>, what: string) => Promise<T>;

/** node-opcua 2.186's client implementation makes its certificate with this (not in its public types). */
interface CertificateMaker {
  createDefaultCertificate?(): Promise<void>;
}

const SECURITY_MODES = {
  none: MessageSecurityMode.None,
  sign_and_encrypt: MessageSecurityMode.SignAndEncrypt,
} as const;

/** A new link for attempt `id`: a client for `endpoint` that has not connected yet. */
export function createLink(
  id: number,
  options: { readonly endpoint: OpcuaEndpoint; readonly certificates: OPCUACertificateManager },
): Link {
  const { endpoint, certificates } = options;
  const client: OPCUAClient = OPCUAClient.create({
    applicationName: "Kiln",
    clientName: `kiln-${endpoint.name}`,
    endpointMustExist: false,
    securityMode: SECURITY_MODES[endpoint.securityMode],
    securityPolicy: SecurityPolicy[endpoint.securityPolicy],
    // One attempt per client: Kiln's own backoff decides when to try again (see connector.ts).
    connectionStrategy: { maxRetry: 0, initialDelay: endpoint.backoffMs, maxDelay: endpoint.maxBackoffMs },
    clientCertificateManager: certificates,
    transportTimeout: endpoint.timeoutMs,
    defaultTransactionTimeout: endpoint.timeoutMs,
    requestedSessionTimeout: Math.max(10_000, 4 * endpoint.timeoutMs),
    keepSessionAlive: false,
  });
  return {
    id,
    client,
    session: null,
    subscription: null,
    dataTypes: new Map(),
    cancelWatchdog: null,
    up: false,
  };
}

/**
 * Makes the client's own certificate if the PKI folder has none yet (RSA key generation, seconds on a busy
 * machine), under a file lock in the PKI folder.
 */
export async function makeClientCertificate(client: OPCUAClient): Promise<void> {
  await (client as unknown as CertificateMaker).createDefaultCertificate?.();
}

/**
 * The identity a session is opened with: anonymous, or the endpoint's user name with the first line of its
 * password file without its line break (read again at every attempt). Rejects with `Deno.readTextFile`'s
 * error when the password file cannot be read.
 */
export async function readIdentity(endpoint: OpcuaEndpoint): Promise<UserIdentityInfo> {
  const { username, passwordFile } = endpoint;
  if (username === null || passwordFile === null) return { type: UserTokenType.Anonymous };
  const password = (await Deno.readTextFile(passwordFile)).replace(/\r?\n$/, "");
  return { type: UserTokenType.UserName, userName: username, password };
}

/** Options of {@linkcode dropLink}. */
export interface DropLinkOptions {
  /** Close the session first: only on `close()`, as a lost server would not answer. */
  readonly polite: boolean;
  /** Bounds the session's close and the disconnect. */
  readonly timed: Timed;
}

/** Drops a link's client; closes its session politely only on `close()` (a lost server would not answer). */
export async function dropLink(link: Link, options: DropLinkOptions): Promise<void> {
  const { polite, timed } = options;
  link.up = false;
  link.cancelWatchdog?.();
  link.cancelWatchdog = null;
  // A dropped link's late errors have nobody to tell: the loss that dropped it is already counted, and an
  // EventEmitter "error" without a listener would throw.
  link.client.removeAllListeners();
  link.subscription?.removeAllListeners();
  link.subscription?.on("error", () => {});
  const session = link.session;
  session?.removeAllListeners();
  link.session = null;
  if (polite && session) {
    await timed(session.close(true), "close the session").catch(() => {});
  }
  await timed(link.client.disconnect(), "disconnect").catch(() => {});
}

/** The first line of an error's message (or of what was thrown), to say why an attempt failed. */
export function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0]!.trim() || "unknown error";
}
