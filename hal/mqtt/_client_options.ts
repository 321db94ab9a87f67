/**
 * What the MQTT connector hands mqtt.js for one connection attempt: its settings turned into mqtt.js client
 * options (credentials, the last will, the session and timeout choices explained in `connector.ts`), and the
 * TLS material, read from files where files are named.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { IClientOptions } from "mqtt";
import { MqttTlsError } from "./errors.ts";
import type { MqttTlsOptions, Settings } from "./options.ts";

/**
 * The mqtt.js options of one connection attempt; `tls` is what {@linkcode readTls} returned, or `{}` for a
 * plain `mqtt://` broker.
 */
export function clientOptions(s: Settings, tls: IClientOptions): IClientOptions {
  const will = s.will === undefined ? undefined : {
    topic: s.will.topic,
    payload: typeof s.will.payload === "string" ? Buffer.from(s.will.payload) : Buffer.from(s.will.payload),
    qos: s.will.qos ?? 1,
    retain: s.will.retain ?? false,
  };
  return {
    clientId: s.clientId,
    keepalive: s.keepaliveS,
    clean: !s.persistentSession,
    protocolVersion: 4,
    reconnectPeriod: 0,
    // The connector's own timer (its #connectTimer) covers CONNACK and resubscription; mqtt.js's is a fallback.
    connectTimeout: s.connectTimeoutMs + 1000,
    queueQoSZero: false,
    resubscribe: false,
    ...(s.username === undefined ? {} : { username: s.username }),
    ...(s.password === undefined ? {} : { password: s.password }),
    ...(will === undefined ? {} : { will }),
    ...tls,
  };
}

/**
 * The PEM text of the TLS options, reading files where files are named.
 *
 * @throws {MqttTlsError} when a named file cannot be read.
 */
export async function readTls(connector: string, tls: MqttTlsOptions): Promise<IClientOptions> {
  const pem = async (text: string | undefined, file: string | undefined) => {
    if (file === undefined) return text;
    try {
      return await Deno.readTextFile(file);
    } catch (cause) {
      const detail = cause instanceof Error ? cause.message : String(cause);
      throw new MqttTlsError(connector, file, `cannot read "${file}": ${detail}`, { cause });
    }
  };
  const [ca, cert, key] = await Promise.all([
    pem(tls.ca, tls.caFile),
    pem(tls.cert, tls.certFile),
    pem(tls.key, tls.keyFile),
  ]);
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
  };
}
