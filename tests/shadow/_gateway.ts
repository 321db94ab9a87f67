/**
 * The shadow tests' gateway built as `kiln run` builds it, from a manifest: `w` (publishing to a real
 * Mosquitto as `shadow/live`) and its channel's reader `r`, with a store, an outbox, the uplink, the deployer
 * and the HTTP API in process.
 */
import { apiPorts, createApp } from "../../api/mod.ts";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { createDeployer, createRuntime, planDeployment, type Runtime } from "../../runtime/mod.ts";
import { createOutbox, openStore } from "../../snapshots/mod.ts";
import { wat } from "../_helpers.ts";
import { READER, writerWasm } from "./_fixtures.ts";

/** A gateway under test; dispose it with `await using`. */
export interface ShadowApiGateway extends AsyncDisposable {
  rt: Runtime;
  /** The API's fetch handler (to serve it for the CLI). */
  fetch(req: Request): Response | Promise<Response>;
  request(path: string, init?: RequestInit): Promise<Response>;
}

/**
 * Starts the gateway in `dir`, its uplink on the broker at `port`; `trustedRoot` (a PEM path) adds the
 * signature policy `signatures: { mode: optional }` with that root.
 */
export async function startGateway(
  dir: string,
  port: number,
  options: { trustedRoot?: string } = {},
): Promise<ShadowApiGateway> {
  await Deno.writeFile(`${dir}/w.wasm`, writerWasm({ topic: "live" }));
  await Deno.writeFile(`${dir}/r.wasm`, wat(READER));
  const manifestFile = `${dir}/kiln.yaml`;
  await Deno.writeTextFile(
    manifestFile,
    `version: 1
device: { id: gw-shadow }
${
      options.trustedRoot
        ? `signatures: { mode: optional, trusted_roots: ["${options.trustedRoot}"] }\n`
        : ""
    }policy:
  allow: [write:channel:features, read:channel:features, write:gpio:pin_8, "write:mqtt:shadow/#"]
channels:
  features: { writer: w, readers: [r], size_bytes: 4096, overflow: drop-newest }
connectors:
  mqtt: { url: "mqtt://127.0.0.1:${port}", client_id: gw-shadow-test }
modules:
  w:
    wasm: w.wasm
    limits: { budget_us: 100000, max_memory_mb: 1 }
    capabilities: [write:channel:features, write:gpio:pin_8, "write:mqtt:shadow/#"]
    schedule: { mode: periodic, period_us: 5000 }
  r:
    wasm: r.wasm
    limits: { budget_us: 100000, max_memory_mb: 1 }
    capabilities: [read:channel:features]
    schedule: { mode: stream, source: "channel:features", window: 16, hop: 16 }
`,
  );
  const store = openStore(`${dir}/kiln.db`);
  const rt = await createRuntime({
    plan: planDeployment(await loadManifest(manifestFile)),
    version: "test",
    log: () => {},
    outbox: createOutbox(store, { diskBudgetBytes: 1 << 20 }),
  });
  try {
    await rt.start();
  } catch (err) {
    await rt[Symbol.asyncDispose]();
    store.close();
    throw err;
  }
  const app = createApp({
    ...apiPorts(rt),
    deployer: createDeployer({ manifestFile, dataDir: `${dir}/data`, runtime: rt }),
    maxBodyBytes: 1 << 20,
  });
  return {
    rt,
    fetch: app.fetch,
    request: async (path, init) => await app.request(path, init),
    async [Symbol.asyncDispose]() {
      await rt[Symbol.asyncDispose]();
      store.close();
    },
  };
}
