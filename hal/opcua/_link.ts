/**
 * One connection attempt of the OPC UA connector and what hangs off it: its certificate store (`_pki.ts`),
 * the node-opcua client made for the endpoint's security settings, the user identity it opens its session
 * with, and how the whole link is dropped again, within a bounded time whatever state it is in. Kiln makes a
 * fresh link for every attempt (see `connector.ts`), so a link is never reused.
 *
 * node-opcua's own timeouts are set so that Kiln's decide (see {@linkcode createLink}): its transport timeout
 * is also the longest its socket may stay silent, so it must outlast a subscription's keep-alive period.
 *
 * @module
 */
import {
  type ClientSecureChannelLayer,
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
import { disposeCertificates } from "./_pki.ts";
import { requestedKeepAliveMs } from "./_publishing.ts";

/** One attempt's client and what hangs off it. */
export interface Link {
  readonly id: number;
  readonly client: OPCUAClient;
  /** The attempt's certificate store, disposed with the link. */
  readonly certificates: OPCUACertificateManager;
  /** The secure channels the client opened: their sockets are closed when a disconnect does not finish. */
  readonly channels: Set<ClientSecureChannelLayer>;
  /** Set by {@linkcode dropLink}: the drop in progress or done. */
  dropped: Promise<void> | null;
  session: ClientSession | null;
  subscription: ClientSubscription | null;
  /** Node ids to their built-in data type, read before the first write of each. */
  readonly dataTypes: Map<string, DataType>;
  /** Cancels the publish watchdog. */
  cancelWatchdog: (() => void) | null;
  up: boolean;
}

/**
 * Bounds one step: rejects with an `OpcuaTimeoutError` naming `what` when `promise` takes longer than
 * `timeoutMs` (the endpoint's `timeout_ms` unless given).
 */
export type Timed = <T>(promise: Promise<T>, what: string, timeoutMs?: number) => Promise<T>;

/**
 * How long a server may legitimately send nothing at all, in milliseconds: two keep-alive periods (at least
 * 10 s each, as a server may revise the publishing interval up, Part 4 §5.13.2.2) plus `timeout_ms`. Kiln's
 * publish watchdog detects a hung server sooner, from the periods the server granted.
 */
function longestSilenceMs(endpoint: OpcuaEndpoint): number {
  return 2 * Math.max(requestedKeepAliveMs(endpoint.nodes), 10_000) + endpoint.timeoutMs;
}

/** node-opcua 2.186's client implementation makes its certificate with this (not in its public types). */
interface CertificateMaker {
  createDefaultCertificate?(): Promise<void>;
}

const SECURITY_MODES = {
  none: MessageSecurityMode.None,
  sign_and_encrypt: MessageSecurityMode.SignAndEncrypt,
} as const;

/**
 * A new link for attempt `id`: a client for `endpoint` that has not connected yet, with the attempt's
 * certificate store (not initialized yet).
 *
 * node-opcua's timeouts, all outlasted by Kiln's own bounds so that Kiln's decide and name the step:
 * - `transportTimeout` bounds the Hello/Acknowledge exchange, and node-opcua also closes a socket silent for
 *   that long: at least `connect_timeout_ms`, and longer than a subscription's keep-alive period (it was
 *   `timeout_ms` once, and a quiet server's connection broke every few seconds);
 * - `defaultTransactionTimeout` bounds each request node-opcua sends, the session's creation and activation
 *   included: the longer of `timeout_ms` and `connect_timeout_ms`;
 * - `requestedSessionTimeout`: how long the server keeps a session that gets no request (publish requests
 *   count), so at least the longest silence above;
 * - `connectionStrategy`: one attempt per client, Kiln's own backoff decides when to try again;
 * - `defaultSecureTokenLifetime` stays node-opcua's 10 minutes: the channel is renewed after 75% of it.
 */
export function createLink(
  id: number,
  options: { readonly endpoint: OpcuaEndpoint; readonly certificates: OPCUACertificateManager },
): Link {
  const { endpoint, certificates } = options;
  const silenceMs = longestSilenceMs(endpoint);
  const client: OPCUAClient = OPCUAClient.create({
    applicationName: "Kiln",
    clientName: `kiln-${endpoint.name}`,
    endpointMustExist: false,
    securityMode: SECURITY_MODES[endpoint.securityMode],
    securityPolicy: SecurityPolicy[endpoint.securityPolicy],
    // One attempt per client: Kiln's own backoff decides when to try again (see connector.ts).
    connectionStrategy: { maxRetry: 0, initialDelay: endpoint.backoffMs, maxDelay: endpoint.maxBackoffMs },
    clientCertificateManager: certificates,
    transportTimeout: Math.max(endpoint.connectTimeoutMs, silenceMs),
    defaultTransactionTimeout: Math.max(endpoint.timeoutMs, endpoint.connectTimeoutMs),
    requestedSessionTimeout: Math.max(4 * endpoint.timeoutMs, silenceMs),
    keepSessionAlive: false,
  });
  const channels = new Set<ClientSecureChannelLayer>();
  client.on("secure_channel_created", (channel) => channels.add(channel));
  return {
    id,
    client,
    certificates,
    channels,
    dropped: null,
    session: null,
    subscription: null,
    dataTypes: new Map(),
    cancelWatchdog: null,
    up: false,
  };
}

/**
 * Opens the link's certificate store and makes the client's own certificate if the PKI folder has none yet
 * (RSA key generation, seconds on a busy machine), under a file lock in the PKI folder.
 */
export async function prepareCertificates(link: Link): Promise<void> {
  await link.certificates.initialize();
  await (link.client as unknown as CertificateMaker).createDefaultCertificate?.();
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
  /** Bounds the session's close, the disconnect and the store's disposal, each by `timeout_ms`. */
  readonly timed: Timed;
}

/**
 * Drops a link, whatever state its client is in (connecting, fetching the server's certificate, in a
 * handshake, connected, broken): closes its session politely only on `close()` (a lost server would not
 * answer), disconnects, closes the sockets of its secure channels when the disconnect does not finish in
 * time, and disposes its certificate store. Settles within three times `timeout_ms`; a second call returns
 * the first one's promise.
 */
export function dropLink(link: Link, options: DropLinkOptions): Promise<void> {
  link.dropped ??= drop(link, options);
  return link.dropped;
}

async function drop(link: Link, options: DropLinkOptions): Promise<void> {
  const { polite, timed } = options;
  link.up = false;
  link.cancelWatchdog?.();
  link.cancelWatchdog = null;
  // A dropped link's late errors have nobody to tell: the loss that dropped it is already counted, and an
  // EventEmitter "error" without a listener would throw.
  link.client.removeAllListeners();
  let finished = false;
  link.client.on("secure_channel_created", (channel) => {
    // A connect still in flight may open one while (or after) the link is dropped: it is closed too.
    link.channels.add(channel);
    if (finished) closeChannel(channel);
  });
  link.subscription?.removeAllListeners();
  link.subscription?.on("error", () => {});
  const session = link.session;
  session?.removeAllListeners();
  link.session = null;
  if (polite && session) {
    await timed(session.close(true), "close the session").catch(() => {});
  }
  await timed(link.client.disconnect(), "disconnect").catch(() => {});
  // Closed in any case: a disconnect that did not finish in time leaves its channel's socket open, and
  // node-opcua's disconnect does not close a channel that a connect in flight was still opening.
  finished = true;
  for (const channel of link.channels) closeChannel(channel);
  await timed(disposeCertificates(link.certificates), "dispose the certificate store").catch(() => {});
}

/** Closes a secure channel's sockets now, without sending a CloseSecureChannel request. */
function closeChannel(channel: ClientSecureChannelLayer): void {
  try {
    channel.dispose();
  } catch { /* already disposed */ }
}

/**
 * An error's message (or what was thrown) on one line, at most 300 characters, to say why an attempt failed:
 * node-opcua's messages span lines, and the cause is often on the last one ("Fail to connect to server at
 * ... (in findEndpoint)" then "(err =premature disconnection 4)").
 */
export function reason(err: unknown): string {
  const text = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ").trim();
  return (text.length > 300 ? `${text.slice(0, 299)}…` : text) || "unknown error";
}
