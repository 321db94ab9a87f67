/**
 * The floor of `bench/api.ts`: a bare Hono app on `Deno.serve` with the same two routes as Kiln's
 * (`GET /health` and `GET /api/v1/modules`), each answering a fixed JSON document (the one Kiln answered,
 * parsed once and serialised per request, as `c.json` does), no middleware. It prints `{"port": N}` once it
 * listens and serves until stdin closes (its parent exits or closes it).
 *
 * Run: `deno run -A bench/_hono_floor.ts <health.json> <modules.json>`.
 *
 * @module
 */
import { Hono } from "hono";

const [healthPath, modulesPath] = Deno.args;
if (healthPath === undefined || modulesPath === undefined) {
  throw new TypeError("Usage: _hono_floor.ts <health.json> <modules.json>");
}
const health = JSON.parse(await Deno.readTextFile(healthPath)) as unknown;
const modules = JSON.parse(await Deno.readTextFile(modulesPath)) as unknown;
const app = new Hono();
app.get("/health", (c) => c.json(health as object));
app.get("/api/v1/modules", (c) => c.json(modules as object));
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
console.log(JSON.stringify({ port: server.addr.port }));
// Serve until the parent closes stdin (or exits).
for await (const _ of Deno.stdin.readable) { /* drain */ }
await server.shutdown();
