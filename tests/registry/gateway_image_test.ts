/**
 * A gateway whose manifest names modules by OCI image, run as a user runs it (`kiln run`, sandboxed, with
 * `signatures: required`) against a real Distribution registry: a signed image is pulled, verified and runs;
 * with the registry stopped, a restart starts it from the cache; an unsigned image is refused at load and a
 * missing tag (404) is refused naming its reference, while the other modules run.
 */
import assert from "node:assert/strict";
import { getJson, runKiln } from "../_process.ts";
import { attestation, sign } from "../signing/_fixture.ts";
import { mintPki, tempDir } from "../signing/_pki.ts";
import { COUNTER_SPEC, counterWasm, countsPast, moduleStatus, startGateway } from "../lifecycle/_gateway.ts";
import { pushModule, RegistryClient } from "../../registry/mod.ts";
import { startRegistry } from "./_registry.ts";
import { loadManifest, parseManifest } from "../../runtime/manifest/mod.ts";
import { issuesOf } from "../../runtime/manifest/_testing.ts";
import { BlobStore } from "../../runtime/mod.ts";
import { resolveImages } from "../../runtime/lifecycle/images.ts";
import { getImageRef, openStore, referencedDigests } from "../../snapshots/mod.ts";

const catalog = (version: string) =>
  attestation({ version, capabilities: [], hardware: ["arm64"], max_memory_mb: 1 });

interface Signed {
  state: string;
  sha256: string;
  last_error?: string | null;
  signature: { version: string } | null;
}

interface StartReport {
  start: { modules: { module: string; state: string; error: string | null }[] };
}

async function startReport(base: string): Promise<Map<string, StartReport["start"]["modules"][number]>> {
  const r = await getJson<StartReport>(`${base}/api/v1/deployments`);
  return new Map(r.start.modules.map((m) => [m.module, m]));
}

Deno.test("a gateway runs a signed image from the registry, starts it from the cache when the registry is down, and refuses an unsigned image and a missing tag while the others run", async () => {
  await using tmp = await tempDir("kiln-image-");
  const dir = tmp.path;
  const pki = await mintPki(`${dir}/pki`, { name: "Plant" });
  await Deno.mkdir(`${dir}/registry`);
  const registry = await startRegistry(`${dir}/registry`);
  let registryStopped = false;
  try {
    const host = registry.host;
    const counter = counterWasm(1);
    const bundle = await sign(pki, counter, { name: "counter", attestation: catalog("1.4.0") });
    const unsigned = counterWasm(5);
    {
      using client = new RegistryClient(host, { plainHttp: true });
      await pushModule(client, { repository: "plant/counter", tag: "1.4.0" }, {
        wasm: counter,
        fileName: "counter.wasm",
        signature: new TextEncoder().encode(bundle),
      });
      await pushModule(client, { repository: "plant/unsigned", tag: "1.0.0" }, {
        wasm: unsigned,
        fileName: "unsigned.wasm",
      });
    }
    const local = counterWasm(2);
    await Deno.writeFile(`${dir}/local.wasm`, local);
    await Deno.writeTextFile(
      `${dir}/local.wasm.sig`,
      await sign(pki, local, { name: "local", attestation: catalog("1.0.0") }),
    );
    const spec = COUNTER_SPEC.trim().replaceAll("\n", "\n    ");
    await Deno.writeTextFile(
      `${dir}/kiln.yaml`,
      `version: 1
device: { id: gw-image, hardware: arm64 }
policy: { allow: ["read:sim:*"] }
signatures: { mode: required, trusted_roots: [pki/root/root.pem] }
registries:
  "${host}": { plain_http: true }
modules:
  counter:
    image: ${host}/plant/counter:1.4.0
    ${spec}
  local:
    wasm: local.wasm
    ${spec}
  unsigned:
    image: ${host}/plant/unsigned:1.0.0
    ${spec}
  missing:
    image: ${host}/plant/counter:9.9.9
    ${spec}
`,
    );
    const manifest = `${dir}/kiln.yaml`;
    const data = `${dir}/data`;
    let sha256: string;
    {
      await using kiln = await startGateway(manifest, data, true);
      await countsPast(kiln.base, "counter", 3);
      await countsPast(kiln.base, "local", 3);
      const c = await getJson<Signed>(`${kiln.base}/api/v1/modules/counter`);
      assert.equal(c.signature?.version, "1.4.0", "the image's signature is verified at load");
      sha256 = c.sha256;

      const u = await moduleStatus(kiln.base, "unsigned");
      assert.notEqual(u?.state, "running", "an unsigned image is refused under signatures: required");
      const audit = await getJson<{ events: { capability: string }[] }>(
        `${kiln.base}/api/v1/audit?kind=signature&module=unsigned&limit=10`,
      );
      assert.ok(
        audit.events.some((e) => e.capability === "refused: unsigned"),
        JSON.stringify(audit.events),
      );

      assert.equal(await moduleStatus(kiln.base, "missing"), null, "a missing tag never reaches the runtime");
      const missing = (await startReport(kiln.base)).get("missing");
      assert.equal(missing?.state, "refused");
      assert.match(missing?.error ?? "", /plant\/counter:9\.9\.9/);
      assert.match(missing?.error ?? "", /HTTP 404/);
    }

    await registry[Symbol.asyncDispose]();
    registryStopped = true;
    {
      await using kiln = await startGateway(manifest, data, true);
      const c = await countsPast(kiln.base, "counter", 3);
      assert.equal(c.sha256, sha256, "the cached image runs");
      const verified = await getJson<Signed>(`${kiln.base}/api/v1/modules/counter`);
      assert.equal(verified.signature?.version, "1.4.0", "verified again, from its cached bundle");
      assert.match(kiln.output(), /starting counter from cache \(pulled at /);
      await countsPast(kiln.base, "local", 3);
      const missing = (await startReport(kiln.base)).get("missing");
      assert.equal(missing?.state, "refused", "never pulled, nothing cached: refused");
      assert.match(missing?.error ?? "", /nothing is cached/);
    }
  } finally {
    if (!registryStopped) await registry[Symbol.asyncDispose]();
  }
});

/** Writes a manifest of image modules (each `name: reference`) and loads it. */
async function imageManifest(dir: string, host: string, modules: Record<string, string>) {
  let text = `version: 1\ndevice: { id: gw-cache }\npolicy: { allow: ["read:sim:*"] }\n` +
    `registries:\n  "${host}": { plain_http: true }\nmodules:\n`;
  for (const [name, ref] of Object.entries(modules)) {
    text += `  ${name}:\n    image: ${ref}\n    ${COUNTER_SPEC.trim().replaceAll("\n", "\n    ")}\n`;
  }
  await Deno.writeTextFile(`${dir}/kiln.yaml`, text);
  return await loadManifest(`${dir}/kiln.yaml`);
}

Deno.test("the image cache serves a pinned digest and a tag when the registry is down, never a tag the registry says is gone, and the pull budget bounds a registry that does not answer", async () => {
  await using tmp = await tempDir("kiln-image-cache-");
  const dir = tmp.path;
  await Deno.mkdir(`${dir}/registry`);
  using store = openStore(`${dir}/kiln.db`);
  const blobs = new BlobStore(`${dir}/data`);
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);
  const wasm = counterWasm(7);
  let host: string;
  let digest: string;
  {
    await using registry = await startRegistry(`${dir}/registry`);
    host = registry.host;
    using client = new RegistryClient(host, { plainHttp: true });
    digest = (await pushModule(client, { repository: "plant/c", tag: "1" }, { wasm, fileName: "c.wasm" }))
      .digest;
    const goneDigest = (await pushModule(client, { repository: "plant/gone", tag: "1" }, {
      wasm,
      fileName: "c.wasm",
    })).digest;
    const manifest = await imageManifest(dir, host, {
      pinned: `${host}/plant/c:1@${digest}`,
      tagged: `${host}/plant/c:1`,
      gone: `${host}/plant/gone:1`,
    });
    const first = await resolveImages({ manifest, db: store.db, blobs, log });
    assert.equal(first.refused.size, 0, [...first.refused.values()].join("; "));
    assert.equal(first.sources.get("tagged")?.fromCache, false);
    const path = first.manifest.modules.tagged!.wasm.resolved;
    assert.deepEqual(await Deno.readFile(path), wasm, "the module runs from its blob");
    assert.equal(getImageRef(store.db, `${host}/plant/gone:1`)?.manifestDigest, goneDigest);
    const sha = first.sources.get("tagged")!.sha256;
    assert.ok(referencedDigests(store.db).has(sha), "the blob collector keeps what the cache names");

    // The tag is deleted: the registry's 404 is an answer, not an outage, and the cache must not hide it.
    const res = await fetch(`http://${host}/v2/plant/gone/manifests/${goneDigest}`, { method: "DELETE" });
    await res.body?.cancel();
    assert.equal(res.status, 202);
    const gone = await resolveImages({ manifest, db: store.db, blobs, log });
    assert.match(gone.refused.get("gone") ?? "", /HTTP 404/);
    assert.equal(gone.manifest.modules.gone, undefined);
    assert.equal(gone.sources.get("pinned")?.fromCache, false);
  }
  // The registry is stopped: both references start from what was pulled.
  const manifest = await imageManifest(dir, host, {
    pinned: `${host}/plant/c:1@${digest}`,
    tagged: `${host}/plant/c:1`,
  });
  const offline = await resolveImages({ manifest, db: store.db, blobs, log });
  assert.equal(offline.refused.size, 0, [...offline.refused.values()].join("; "));
  assert.equal(offline.sources.get("pinned")?.fromCache, true);
  assert.equal(offline.sources.get("tagged")?.fromCache, true);
  assert.ok(lines.some((l) => /starting tagged from cache \(pulled at /.test(l)), lines.join("\n"));

  // A registry that accepts connections and never answers: the start's budget ends the wait.
  using silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of silent) held.push(conn);
    } catch { /* closed at the end of the test */ }
  })();
  const silentHost = `127.0.0.1:${silent.addr.port}`;
  const slow = await imageManifest(dir, silentHost, { late: `${silentHost}/plant/c:1` });
  const bounded = await resolveImages({ manifest: slow, db: store.db, blobs, log, budgetMs: 300 });
  assert.match(bounded.refused.get("late") ?? "", /nothing is cached/);
  for (const c of held) c.close();
  silent.close();
  await accepting;
});

Deno.test("a manifest module names exactly one of wasm and image, a valid reference, and no signature with an image", () => {
  const doc = (entry: string, extra = "") =>
    `version: 1\ndevice: { id: gw }\npolicy: { allow: ["read:sim:*"] }\n${extra}modules:\n  m:\n` +
    `    ${entry}\n    schedule: { mode: periodic, period_us: 20000 }\n`;
  const paths = (text: string) => issuesOf(text).map((i) => i.path);
  assert.deepEqual(paths(doc("image: registry.plant.local/fft")), ["modules.m.image"]);
  assert.match(issuesOf(doc("image: fft:1.0"))[0]!.message, /no registry host/);
  assert.deepEqual(
    paths(doc("image: registry.plant.local/fft:1\n    wasm: m.wasm")),
    ["modules.m.image"],
  );
  assert.deepEqual(paths(doc("enabled: true")), ["modules.m.wasm"]);
  assert.deepEqual(
    paths(doc("image: registry.plant.local/fft:1\n    signature: m.sig")),
    ["modules.m.signature"],
  );
  assert.deepEqual(
    paths(doc("image: r.local/fft:1", "registries:\n  r.local: { username: ci }\n")),
    ['registries["r.local"]'],
  );
  assert.equal(
    parseManifest(
      doc(
        "image: r.local:5000/a/fft:1.2@sha256:" + "a".repeat(64),
        "registries:\n  r.local:5000: { plain_http: true }\n",
      ),
    )
      .modules.m!.image,
    `r.local:5000/a/fft:1.2@sha256:${"a".repeat(64)}`,
  );
});

Deno.test("kiln validate accepts an image module without pulling it, and says it is pulled at start", async () => {
  await using dir = await tempDir("kiln-image-validate-");
  const manifest = `${dir.path}/kiln.yaml`;
  await Deno.writeTextFile(
    manifest,
    `version: 1
device: { id: gw-img }
policy: { allow: ["read:sim:*"] }
modules:
  fft:
    image: registry.plant.local:5000/analytics/fft:1.2.0
    ${COUNTER_SPEC.trim().replaceAll("\n", "\n    ")}
`,
  );
  const ran = await runKiln(["validate", manifest]);
  assert.equal(ran.code, 0, ran.stderr);
  assert.match(
    ran.stdout,
    /fft: image registry\.plant\.local:5000\/analytics\/fft:1\.2\.0 \(pulled at start\)/,
  );
});
