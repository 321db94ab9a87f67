/**
 * The manifest's OPC UA endpoints (`connectors.opcua.<name>`), validated with zod, and the connector's
 * camelCase form of them.
 *
 * ```yaml
 * connectors:
 *   opcua:
 *     plc1:
 *       url: opc.tcp://10.0.0.7:4840/UA/Line1
 *       security_mode: sign_and_encrypt
 *       security_policy: Basic256Sha256
 *       username: kiln
 *       password_file: /etc/kiln/plc1.password
 *       connect_timeout_ms: 15000
 *       nodes:
 *         - { id: oven_temp, node_id: "ns=2;s=Oven.Temperature", sampling_ms: 250 }
 *         - { id: setpoint, node_id: "ns=2;s=Oven.Setpoint", writable: true }
 * ```
 *
 * @module
 */
import { z } from "zod";
import { backoffFields, checkBackoff } from "../keeper.ts";

/** Point ids: a lowercase letter, then up to 62 lowercase letters, digits, `_` or `-` (as Modbus points). */
export const POINT_ID = /^[a-z][a-z0-9_-]{0,62}$/;

const NODE_ID =
  /^(?:ns=(0|[1-9][0-9]{0,4});)?(?:i=(0|[1-9][0-9]{0,9})|s=.+|g=[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/]+={0,2})$/s;

/**
 * The canonical text of a node id as OPC UA Part 6 §5.3.1.10 writes it: an optional `ns=<index>;` (dropped
 * when the index is 0, as the capability parser does), then `i=` a numeric, `s=` a string, `g=` a GUID or
 * `b=` an opaque (base64) identifier; `null` when `text` is not one.
 *
 * @example
 * ```ts
 * import { canonicalNodeId } from "./config.ts";
 *
 * canonicalNodeId("ns=0;i=2258"); // "i=2258"
 * canonicalNodeId("ns=2;s=Temp"); // "ns=2;s=Temp"
 * ```
 */
export function canonicalNodeId(text: string): string | null {
  const match = NODE_ID.exec(text);
  if (!match) return null;
  const ns = Number(match[1] ?? "0");
  if (ns > 65_535 || Number(match[2] ?? "0") > 0xffff_ffff) return null;
  const rest = match[1] === undefined ? text : text.slice(text.indexOf(";") + 1);
  return ns === 0 ? rest : `ns=${ns};${rest}`;
}

/** Security modes Kiln offers (Part 4 §7.15 MessageSecurityMode; `Sign` alone is not offered). */
export const OPCUA_SECURITY_MODES = ["none", "sign_and_encrypt"] as const;
/** A security mode. */
export type OpcuaSecurityMode = typeof OPCUA_SECURITY_MODES[number];

/** Security policies (Part 7 §6.6), by their URI's last part; `None` goes only with security mode `none`. */
export const OPCUA_SECURITY_POLICIES = [
  "None",
  "Basic256Sha256",
  "Aes128_Sha256_RsaOaep",
  "Aes256_Sha256_RsaPss",
] as const;
/** A security policy. */
export type OpcuaSecurityPolicy = typeof OPCUA_SECURITY_POLICIES[number];

/** Default `timeout_ms`: for each request once the session is up, and the publish watchdog's margin. */
export const DEFAULT_TIMEOUT_MS = 5000;
/**
 * Default `connect_timeout_ms`: for opening the secure channel, then again for creating and activating the
 * session. With Sign&Encrypt these are RSA handshakes (and fetching the server's certificate first), which a
 * busy 2-core gateway takes hundreds of milliseconds for, and seconds in a GC pause or a swap storm; the
 * default leaves room for that and matches node-opcua's own transaction timeout.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
/** Default `backoff_ms` and `max_backoff_ms`: every connector's (see `../keeper.ts`). */
export { DEFAULT_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS } from "../keeper.ts";
/** Default `sampling_ms` of a node. */
export const DEFAULT_SAMPLING_MS = 1000;
/** A node's `stale_ms` is this many times its `sampling_ms` unless given. */
export const DEFAULT_STALE_SAMPLINGS = 3;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.int().min(min).max(max);

/** One node: which value, how often the server samples it, whether modules may write it. */
export const OpcuaNodeSchema = z.strictObject({
  id: z.string().regex(
    POINT_ID,
    `a point id must start with a lowercase letter and contain only lowercase letters, digits, "_" or "-" (at most 63)`,
  ),
  /** The node id, e.g. `ns=2;s=Temperature` (Part 6 §5.3.1.10). */
  node_id: z.string().refine(
    (text) => canonicalNodeId(text) !== null,
    `a node id must look like "ns=2;s=Temp", "i=2258" or "ns=3;g=<guid>" (OPC UA Part 6 §5.3.1.10)`,
  ),
  /** The sampling interval the monitored item asks the server for, in milliseconds. @default 1000 */
  sampling_ms: int(0, 86_400_000).default(DEFAULT_SAMPLING_MS),
  /**
   * How long after the connection is lost the last value stays `uncertain` before it turns `bad`, in
   * milliseconds. @default 3 * sampling_ms
   */
  stale_ms: int(0, 86_400_000).optional(),
  /** Whether modules may write the node (with a `write:opcua:...` grant). @default false */
  writable: z.boolean().default(false),
}).transform((node) => ({
  ...node,
  node_id: canonicalNodeId(node.node_id)!,
  stale_ms: node.stale_ms ?? DEFAULT_STALE_SAMPLINGS * Math.max(node.sampling_ms, 100),
}));

/** One OPC UA endpoint (`connectors.opcua.<name>`): where the server is, how to secure it, what to monitor. */
export const OpcuaEndpointSchema = z.strictObject({
  /** `opc.tcp://host:port/path` (Part 6 §7.2, UA TCP). */
  url: z.string().regex(
    /^opc\.tcp:\/\/[^\s/:]+(:\d{1,5})?(\/\S*)?$/,
    `an endpoint url must look like "opc.tcp://host:4840/path"`,
  ),
  /** @default "none" */
  security_mode: z.enum(OPCUA_SECURITY_MODES).default("none"),
  /** @default "None" with security mode `none`, "Basic256Sha256" with `sign_and_encrypt` */
  security_policy: z.enum(OPCUA_SECURITY_POLICIES).optional(),
  /** A user name for a UserNameIdentityToken; the session is anonymous without one. */
  username: z.string().min(1).optional(),
  /** The file holding the user's password (read at each connect, trailing newline dropped). */
  password_file: z.string().min(1).optional(),
  /**
   * The folder of Kiln's client certificate, private key and trusted server certificates (node-opcua's PKI
   * layout: `own/`, `trusted/`, `rejected/`, `issuers/`). @default `<data_dir>/pki/opcua`
   */
  pki_dir: z.string().min(1).optional(),
  /**
   * How long a request may take once the session is up (creating the subscription and its monitored items,
   * reading a node's type, a write, closing the session), and how much longer than the subscription's
   * keep-alive period the server may stay silent before Kiln takes it as hung, in milliseconds.
   * @default 5000
   */
  timeout_ms: int(1, 600_000).default(DEFAULT_TIMEOUT_MS),
  /**
   * How long opening the secure channel may take (TCP, Hello/Acknowledge, with Sign&Encrypt fetching the
   * server's certificate and the OpenSecureChannel handshake), and then again creating and activating the
   * session, in milliseconds. An attempt that takes longer is dropped and retried after the backoff.
   * @default 15000
   */
  connect_timeout_ms: int(1, 600_000).default(DEFAULT_CONNECT_TIMEOUT_MS),
  /** `backoff_ms` (@default 500) and `max_backoff_ms` (@default 30000): see `../keeper.ts`. */
  ...backoffFields,
  nodes: z.array(OpcuaNodeSchema).min(1, "an OPC UA endpoint needs at least one node"),
}).superRefine((endpoint, ctx) => {
  const seen = new Set<string>();
  endpoint.nodes.forEach((node, i) => {
    if (seen.has(node.id)) {
      ctx.addIssue({
        code: "custom",
        path: ["nodes", i, "id"],
        message: `the point id "${node.id}" is used twice`,
      });
    }
    seen.add(node.id);
  });
  const policy = endpoint.security_policy;
  if (endpoint.security_mode === "none" && policy !== undefined && policy !== "None") {
    ctx.addIssue({
      code: "custom",
      path: ["security_policy"],
      message: `security mode "none" goes with security policy "None", not "${policy}"`,
    });
  }
  if (endpoint.security_mode === "sign_and_encrypt" && policy === "None") {
    ctx.addIssue({
      code: "custom",
      path: ["security_policy"],
      message: `security mode "sign_and_encrypt" needs a security policy other than "None"`,
    });
  }
  if ((endpoint.username === undefined) !== (endpoint.password_file === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: [endpoint.username === undefined ? "username" : "password_file"],
      message: `username and password_file go together`,
    });
  }
  checkBackoff(endpoint, ctx);
});

/** An endpoint as the manifest gives it, with defaults applied (the schema's output). */
export type OpcuaEndpointConfig = z.output<typeof OpcuaEndpointSchema>;
/** A node as the manifest gives it, with defaults applied. */
export type OpcuaNodeConfig = z.output<typeof OpcuaNodeSchema>;

/** A node, as the connector uses it. */
export interface OpcuaNode {
  readonly id: string;
  readonly nodeId: string;
  readonly samplingMs: number;
  readonly staleMs: number;
  readonly writable: boolean;
}

/** An endpoint, as the connector uses it. */
export interface OpcuaEndpoint {
  /** The connector's name, as capabilities name it (`plc1` in `read:opcua:plc1/ns=2;s=Temp`). */
  readonly name: string;
  readonly url: string;
  readonly securityMode: OpcuaSecurityMode;
  readonly securityPolicy: OpcuaSecurityPolicy;
  readonly username: string | null;
  readonly passwordFile: string | null;
  readonly pkiDir: string;
  /** See `timeout_ms`. */
  readonly timeoutMs: number;
  /** See `connect_timeout_ms`. */
  readonly connectTimeoutMs: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly nodes: readonly OpcuaNode[];
}

/** Options of {@linkcode toOpcuaEndpoint}. */
export interface ToOpcuaEndpointOptions {
  /** Kiln's data directory: the PKI goes to `<dataDir>/pki/opcua` unless `pki_dir` is given. */
  readonly dataDir: string;
}

/**
 * Turns a validated endpoint config into the connector's camelCase form.
 *
 * @param name The endpoint's key under `connectors.opcua`, e.g. `plc1`.
 */
export function toOpcuaEndpoint(
  name: string,
  config: OpcuaEndpointConfig,
  options: ToOpcuaEndpointOptions,
): OpcuaEndpoint {
  return {
    name,
    url: config.url,
    securityMode: config.security_mode,
    securityPolicy: config.security_policy ?? (config.security_mode === "none" ? "None" : "Basic256Sha256"),
    username: config.username ?? null,
    passwordFile: config.password_file ?? null,
    pkiDir: config.pki_dir ?? `${options.dataDir.replace(/\/+$/, "")}/pki/opcua`,
    timeoutMs: config.timeout_ms,
    connectTimeoutMs: config.connect_timeout_ms,
    backoffMs: config.backoff_ms,
    maxBackoffMs: config.max_backoff_ms,
    nodes: config.nodes.map((n) => ({
      id: n.id,
      nodeId: n.node_id,
      samplingMs: n.sampling_ms,
      staleMs: n.stale_ms,
      writable: n.writable,
    })),
  };
}
