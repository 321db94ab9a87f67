/**
 * Trace events exported as OpenTelemetry spans: a gateway in process exporting to an OTLP/HTTP receiver of
 * the test's own (checking the documented span fields, docs/traces.md), the manifest's `observability`
 * section, and a collector that is down, silent or refusing.
 */
import assert from "node:assert/strict";
import { apiPorts, createApp } from "../../api/mod.ts";
import { parseManifest } from "../../runtime/manifest/mod.ts";
import { type ObservabilitySpec, OtlpExporter, startTraceExport } from "../../runtime/trace/mod.ts";
import { waitFor } from "../_helpers.ts";
import {
  ERROR_TICK,
  GROW_TICK,
  runtimeWith,
  STEPS_WAT,
  TICKER_WAT,
  traceEvent,
  TRAP_TICK,
} from "./_fixtures.ts";

interface Received {
  method: string;
  path: string;
  contentType: string | null;
  apiKey: string | null;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** An OTLP/HTTP receiver on a free port that records each request and answers `statuses` in turn, then 200. */
function receiver(statuses: number[] = []) {
  const requests: Received[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    requests.push({
      method: req.method,
      path: url.pathname,
      contentType: req.headers.get("content-type"),
      apiKey: req.headers.get("x-api-key"),
      body: await req.json(),
    });
    const status = statuses.shift() ?? 200;
    return Response.json(status === 200 ? { partialSuccess: {} } : { message: "unavailable" }, { status });
  });
  return {
    requests,
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    // deno-lint-ignore no-explicit-any
    spans: (): any[] => requests.flatMap((r) => r.body.resourceSpans[0].scopeSpans[0].spans),
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A port nothing listens on (bound, then closed). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** `attributes` as a map from key to its JSON value. */
function attrs(
  list: { key: string; value: Record<string, unknown> }[],
): Map<string, Record<string, unknown>> {
  return new Map(list.map((a) => [a.key, a.value]));
}

/** The manifest's `observability` section naming `endpoint`, as `parseManifest` returns it. */
function observability(endpoint: string): ObservabilitySpec {
  return parseManifest(`version: 1
device: { id: test-gw }
observability:
  traces: { every: 1, ring: 64 }
  otlp:
    endpoint: ${endpoint}
    every_s: 1
    headers: { x-api-key: secret }
    max_batch: 3
modules: {}
`).observability;
}

Deno.test("a gateway exports each traced call as an OTLP/HTTP JSON span with the documented fields", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using collector = receiver();
    await using rt = await runtimeWith(dir, STEPS_WAT);
    const spec = observability(collector.endpoint);
    assert.equal(spec.otlp?.timeout_ms, 10_000, "the manifest's defaults");
    await using exported = startTraceExport(rt.traces, spec, { version: "test", deviceId: "test-gw" });
    await rt.start();
    await waitFor("every call's span", () => collector.spans().length >= TRAP_TICK);

    for (const r of collector.requests) {
      assert.equal(r.method, "POST");
      assert.equal(r.path, "/v1/traces");
      assert.equal(r.contentType, "application/json");
      assert.equal(r.apiKey, "secret", "the manifest's headers are sent");
      assert.ok(r.body.resourceSpans[0].scopeSpans[0].spans.length <= 3, "at most max_batch spans a request");
      const resource = attrs(r.body.resourceSpans[0].resource.attributes);
      assert.deepEqual(resource.get("service.name"), { stringValue: "kiln" });
      assert.deepEqual(resource.get("service.version"), { stringValue: "test" });
      assert.deepEqual(resource.get("host.name"), { stringValue: "test-gw" });
      assert.equal(r.body.resourceSpans[0].scopeSpans[0].scope.name, "kiln.runtime");
    }
    const spans = collector.spans();
    assert.equal(spans.length, TRAP_TICK);
    const seqs = spans.map((s) => Number(attrs(s.attributes).get("kiln.seq")!.intValue));
    assert.deepEqual(seqs, spans.map((_, i) => i + 1), "exported in seq order, none missing");
    assert.equal(new Set(spans.map((s) => s.spanId)).size, spans.length, "span ids are unique");
    for (const [i, s] of spans.entries()) {
      const call = i + 1;
      assert.match(s.traceId, /^[0-9a-f]{32}$/);
      assert.match(s.spanId, /^[0-9a-f]{16}$/);
      assert.ok(s.traceId.endsWith(s.spanId), "each call is a trace of its own");
      assert.equal(s.name, "steps kiln_on_tick");
      assert.equal(s.kind, 1, "SPAN_KIND_INTERNAL");
      assert.match(s.startTimeUnixNano, /^\d+$/);
      assert.match(s.endTimeUnixNano, /^\d+$/);
      const start = BigInt(s.startTimeUnixNano), end = BigInt(s.endTimeUnixNano);
      assert.ok(end >= start);
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      assert.ok(start <= nowNs && start > nowNs - 3_600_000_000_000n, "start is an epoch time in ns");
      const a = attrs(s.attributes);
      assert.deepEqual(a.get("kiln.module"), { stringValue: "steps" });
      assert.deepEqual(a.get("kiln.handler"), { stringValue: "kiln_on_tick" });
      assert.deepEqual(a.get("kiln.invocation"), { intValue: String(call) });
      assert.match(
        String(a.get("kiln.instructions")?.intValue),
        /^[1-9]\d*$/,
        "fuel mode counts instructions",
      );
      assert.deepEqual(a.get("kiln.alloc_bytes"), { intValue: call === GROW_TICK ? "65536" : "0" });
      assert.deepEqual(a.get("kiln.uses.read:gpio:pin_1"), { intValue: "1" });
      assert.equal(typeof a.get("kiln.duration_us")?.doubleValue, "number");
      if (call === ERROR_TICK) {
        assert.deepEqual(s.status, { code: 2, message: "error: 7" });
        assert.deepEqual(a.get("kiln.outcome"), { stringValue: "error" });
      } else if (call === TRAP_TICK) {
        assert.deepEqual(s.status, { code: 2, message: "trap: unreachable" });
        assert.deepEqual(a.get("kiln.code"), { stringValue: "unreachable" });
      } else {
        assert.deepEqual(s.status, { code: 0 });
        assert.equal(a.get("kiln.code"), undefined);
      }
    }
    await waitFor("the counters", () => exported.exporter!.stats().exported === TRAP_TICK);
    const connectors =
      (await (await createApp(apiPorts(rt)).request("/api/v1/connectors")).json()).connectors;
    const otlp = connectors.find((c: { kind: string }) => c.kind === "otlp");
    assert.equal(otlp?.state, "connected");
    assert.equal(otlp?.errors, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a collector that is down does not hold up the modules, and its queue stays at its cap, counting drops", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using rt = await runtimeWith(dir, TICKER_WAT, { name: "ticker", periodUs: 2_000 });
    const spec = observability(`http://127.0.0.1:${closedPort()}`);
    spec.otlp!.max_queue = 20;
    await using exported = startTraceExport(rt.traces, spec, { version: "test", deviceId: "test-gw" });
    const exporter = exported.exporter!;
    await rt.start();
    await waitFor("drops", () => exporter.stats().dropped > 50);
    const before = rt.getModule("ticker")!.invocations;
    await waitFor("the module to go on", () => rt.getModule("ticker")!.invocations > before + 100);
    const s = exporter.stats();
    assert.ok(s.queued <= 20 + 3, `queued ${s.queued}: the cap and one batch held for its retry`);
    assert.equal(s.exported, 0);
    assert.ok(s.failed_requests >= 1);
    assert.ok(rt.traces.stats().received >= s.dropped, "every event reached the store; the export dropped");
    const status = exporter.status();
    assert.equal(status.state, "error");
    assert.ok(status.nextAttemptAtMs !== null, "a retry is scheduled after a backoff");
    assert.ok(status.lastError?.includes(exporter.url), status.lastError ?? "");
    assert.equal(rt.getModule("ticker")!.state, "running");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a batch the collector answers 503 to is kept and sent again after the backoff, with the same span ids", async () => {
  await using collector = receiver([503]);
  let now = 0;
  await using exporter = new OtlpExporter({
    endpoint: collector.endpoint,
    resource: { version: "test", deviceId: "gw" },
    nowMs: () => now,
    backoffMs: 1000,
  });
  for (let seq = 1; seq <= 3; seq++) exporter.enqueue(traceEvent("m", seq));
  await exporter.flush();
  assert.equal(collector.requests.length, 1);
  assert.deepEqual(
    { exported: exporter.stats().exported, queued: exporter.stats().queued },
    { exported: 0, queued: 3 },
  );
  assert.equal(exporter.status().nextAttemptAtMs, 1000);
  await exporter.flush();
  assert.equal(collector.requests.length, 1, "not before the backoff has passed");
  now = 1000;
  await exporter.flush();
  assert.equal(collector.requests.length, 2);
  assert.equal(exporter.stats().exported, 3);
  assert.equal(exporter.status().state, "connected");
  const ids = (i: number) =>
    collector.requests[i]!.body.resourceSpans[0].scopeSpans[0].spans.map((s: { spanId: string }) => s.spanId);
  assert.deepEqual(ids(1), ids(0));
});

Deno.test("a batch the collector refuses with 400 is dropped and counted as rejected, not retried", async () => {
  await using collector = receiver([400]);
  await using exporter = new OtlpExporter({
    endpoint: collector.endpoint,
    resource: { version: "test", deviceId: "gw" },
  });
  exporter.enqueue(traceEvent("m", 1));
  exporter.enqueue(traceEvent("m", 2));
  await exporter.flush();
  assert.deepEqual(
    {
      rejected: exporter.stats().rejected,
      queued: exporter.stats().queued,
      exported: exporter.stats().exported,
    },
    { rejected: 2, queued: 0, exported: 0 },
  );
});

Deno.test("a collector that never answers is given up on after timeout_ms", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn); // accepted, never read nor answered
  })();
  try {
    await using exporter = new OtlpExporter({
      endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
      resource: { version: "test", deviceId: "gw" },
      timeoutMs: 200,
    });
    exporter.enqueue(traceEvent("m", 1));
    await exporter.flush();
    assert.match(exporter.status().lastError ?? "", /no answer within 200 ms/);
    assert.equal(exporter.stats().queued, 1, "kept for a retry");
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const c of held) c.close();
  }
});

Deno.test("the exporter's queue is bounded whatever is enqueued, and bad settings are refused", () => {
  const exporter = new OtlpExporter({
    endpoint: "http://127.0.0.1:9/",
    resource: { version: "test", deviceId: "gw" },
    maxQueue: 100,
  });
  for (let seq = 1; seq <= 10_000; seq++) exporter.enqueue(traceEvent("m", seq));
  assert.deepEqual({ queued: exporter.stats().queued, dropped: exporter.stats().dropped }, {
    queued: 100,
    dropped: 9_900,
  });
  assert.equal(exporter.url, "http://127.0.0.1:9/v1/traces");
  assert.throws(
    () => new OtlpExporter({ endpoint: "ftp://x", resource: { version: "t", deviceId: "gw" } }),
    RangeError,
  );
  assert.throws(
    () => new OtlpExporter({ endpoint: "nope", resource: { version: "t", deviceId: "gw" } }),
    TypeError,
  );
  assert.throws(
    () =>
      parseManifest(
        "version: 1\ndevice: { id: gw }\nobservability: { otlp: { endpoint: 'ftp://x' } }\nmodules: {}\n",
      ),
    (err: Error & { code?: string }) => err.code === "manifest_invalid",
  );
});
