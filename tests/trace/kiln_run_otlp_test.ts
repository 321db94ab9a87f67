/**
 * `kiln run` applies the manifest's `observability` section: a sandboxed gateway (relaunched with narrowed
 * permissions, so the collector's address must be among its granted hosts) traces a module's calls and
 * exports them as spans to an OTLP/HTTP receiver of the test's own, and the API serves the same events.
 */
import assert from "node:assert/strict";
import { getJson } from "../_process.ts";
import { waitFor } from "../_helpers.ts";
import { counterWasm, startGateway } from "../lifecycle/_gateway.ts";
import { tempDir } from "../signing/_pki.ts";

interface Attribute {
  key: string;
  value: { stringValue?: string; intValue?: string; doubleValue?: number };
}

Deno.test({
  name: "a sandboxed kiln run exports a module's traced calls to the manifest's OTLP collector",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using tmp = await tempDir("kiln-otlp-run-");
    // deno-lint-ignore no-explicit-any
    const bodies: any[] = [];
    // On 127.0.0.2: the API's own grant (127.0.0.1, any port, as it listens on port 0) does not cover it.
    const receiver = Deno.serve({ hostname: "127.0.0.2", port: 0, onListen() {} }, async (req) => {
      if (req.method === "POST" && new URL(req.url).pathname === "/v1/traces") bodies.push(await req.json());
      return Response.json({ partialSuccess: {} });
    });
    const dir = tmp.path;
    await Deno.writeFile(`${dir}/counter.wasm`, counterWasm(1));
    await Deno.writeTextFile(
      `${dir}/kiln.yaml`,
      `version: 1
device: { id: gw-otlp }
observability:
  traces: { every: 1, ring: 64 }
  otlp: { endpoint: "http://127.0.0.2:${receiver.addr.port}", every_s: 1 }
modules:
  counter:
    wasm: counter.wasm
    schedule: { mode: periodic, period_us: 20000 }
    limits: { max_memory_mb: 1 }
`,
    );
    const kiln = await startGateway(`${dir}/kiln.yaml`, `${dir}/data`, true);
    try {
      // deno-lint-ignore no-explicit-any
      const spans = (): any[] =>
        bodies.flatMap((b) =>
          // deno-lint-ignore no-explicit-any
          b.resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans))
        );
      await waitFor("spans of the counter at the collector", () => spans().length >= 10, 60_000)
        .catch((err) => {
          throw new Error(`${(err as Error).message}\nkiln:\n${kiln.output()}`);
        });
      const attrs = (span: { attributes: Attribute[] }) =>
        new Map(span.attributes.map((a) => [a.key, a.value]));
      const first = attrs(spans()[0]!);
      assert.equal(first.get("kiln.module")?.stringValue, "counter");
      assert.equal(first.get("kiln.handler")?.stringValue, "kiln_on_tick");
      assert.equal(first.get("kiln.outcome")?.stringValue, "ok");
      const seqs = spans().map((s) => Number(attrs(s).get("kiln.seq")?.intValue));
      assert.deepEqual(
        seqs.slice(0, 10),
        Array.from({ length: 10 }, (_, i) => seqs[0]! + i),
        "in order, no gap",
      );
      const resource = new Map(
        (bodies[0].resourceSpans[0].resource.attributes as Attribute[]).map((a) => [a.key, a.value]),
      );
      assert.equal(resource.get("kiln.device.id")?.stringValue, "gw-otlp");
      // The same events over the API.
      const api = await getJson<{ traces: { seq: number; handler: string }[] }>(
        `${kiln.base}/api/v1/modules/counter/traces?limit=5`,
      );
      assert.ok(api.traces.length > 0 && api.traces.every((t) => t.handler === "kiln_on_tick"));
    } finally {
      await kiln.stop();
      await receiver.shutdown();
    }
  },
});
