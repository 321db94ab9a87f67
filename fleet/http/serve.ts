/**
 * `kiln fleet serve`: the controller loop ({@linkcode FleetController}) and its HTTP API in one process. The
 * loop and the API each hold a connection to `<data>/fleet.db`; the store is in WAL mode and every write is
 * a short `BEGIN IMMEDIATE` transaction checked against the rollout's `revision`, so the API's commands, the
 * loop's steps and a `kiln fleet pause ...` from another process take turns and never overwrite one another.
 *
 * @module
 */
import { join } from "node:path";
import { FleetController } from "../controller.ts";
import { FleetStore } from "../store.ts";
import { createFleetApp } from "./app.ts";
import { fleetAuthenticator, FleetTokens } from "./tokens.ts";

/** Options of {@linkcode startFleetServer}. */
export interface FleetServerOptions {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://` URL of the fleet's broker. */
  readonly broker: string;
  /** The controller's data directory: `fleet.db`, `fleet_tokens.db`, `admin.token`. */
  readonly dataDir: string;
  /** Where the API listens; port 0 picks a free one. */
  readonly hostname: string;
  readonly port: number;
  /** Kiln's version, in `/health`. */
  readonly version: string;
  /** An admin token accepted besides the stored ones (`KILN_ADMIN_TOKEN`), or null. */
  readonly envToken: string | null;
  /** PEM files to serve HTTPS. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** Broker credentials and CA, as for `kiln fleet run`. */
  readonly username?: string;
  readonly password?: string;
  readonly caFile?: string;
  /** Only this fleet's reports are read. @default every fleet */
  readonly fleet?: string;
  /** How often the loop steps every rollout without a report, ms. @default 1000 */
  readonly tickMs?: number;
  /** The request body limit, bytes. @default FLEET_MAX_BODY_BYTES */
  readonly maxBodyBytes?: number;
  /** Where progress lines go. @default console.log */
  readonly log?: (line: string) => void;
}

/** A running `kiln fleet serve`. Dispose it to stop. */
export interface FleetServer extends AsyncDisposable {
  /** The API's base URL, e.g. `http://127.0.0.1:8470`. */
  readonly url: string;
  /** Stops the API (answering the requests under way), then the loop, and closes the stores. */
  close(): Promise<void>;
}

/**
 * Starts the controller loop and the API; resolves once both are up (connected to the broker, listening).
 * At first start without `envToken`, creates an admin token in `<dataDir>/admin.token`.
 *
 * @throws {FleetStoreError} when a store cannot be opened.
 * @throws {Error} from mqtt.js when the first connection to the broker fails.
 * @throws {Deno.errors.AddrInUse} (or another `Deno.errors` error) when the API cannot listen.
 */
export async function startFleetServer(o: FleetServerOptions): Promise<FleetServer> {
  const log = o.log ?? ((line: string) => console.log(line));
  const cleanup: (() => void | Promise<void>)[] = [];
  const unwind = async () => {
    for (const f of cleanup.reverse()) await f();
  };
  try {
    const tokens = FleetTokens.open(o.dataDir);
    cleanup.push(() => tokens.close());
    const auth = await fleetAuthenticator(tokens, { envToken: o.envToken, dataDir: o.dataDir, log });
    const tls = o.tls === undefined
      ? null
      : { cert: await Deno.readTextFile(o.tls.certFile), key: await Deno.readTextFile(o.tls.keyFile) };
    const controller = await FleetController.start({
      broker: o.broker,
      dataDir: o.dataDir,
      log,
      ...(o.tickMs !== undefined && { tickMs: o.tickMs }),
      ...(o.fleet !== undefined && { fleet: o.fleet }),
      ...(o.username !== undefined && { username: o.username }),
      ...(o.password !== undefined && { password: o.password }),
      ...(o.caFile !== undefined && { caFile: o.caFile }),
    });
    cleanup.push(() => controller.close());
    const store = FleetStore.open(o.dataDir);
    cleanup.push(() => store.close());
    const app = createFleetApp({
      store,
      auth,
      version: o.version,
      broker: o.broker,
      // The loop's step catches and logs its own failures; the API's answer does not wait for it.
      onChange: () => void controller.step(),
      ...(o.maxBodyBytes !== undefined && { maxBodyBytes: o.maxBodyBytes }),
    });
    const listening = Promise.withResolvers<string>();
    const server = Deno.serve({
      hostname: o.hostname,
      port: o.port,
      ...tls,
      onListen: ({ hostname, port }) => {
        const host = hostname.includes(":") ? `[${hostname}]` : hostname;
        listening.resolve(`${tls ? "https" : "http"}://${host}:${port}`);
      },
      onError: (err) => {
        console.error("Unexpected error in the fleet API's HTTP server:", err);
        return Response.json({ error: { code: "internal", message: "Internal error" } }, { status: 500 });
      },
    }, app.fetch);
    cleanup.push(() => server.shutdown());
    const url = await listening.promise;
    log(
      `kiln fleet ${o.version}: controller on ${o.broker}, store ${join(o.dataDir, "fleet.db")}\n` +
        `  health    ${url}/health\n  rollouts  ${url}/api/v1/rollouts`,
    );
    let closing: Promise<void> | null = null;
    const close = () => closing ??= unwind();
    return { url, close, [Symbol.asyncDispose]: close };
  } catch (err) {
    await unwind();
    throw err;
  }
}
