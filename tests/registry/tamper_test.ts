/**
 * A registry that lies: a real Distribution registry cannot be made to serve content that does not match its
 * digest, so this file uses a FAKE registry (a tiny `Deno.serve` that answers the few Distribution routes a
 * pull uses) to check that the client refuses altered blobs and manifests. Every other registry test runs
 * against the real docker-registry.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  OCI_MANIFEST,
  pullModule,
  RegistryClient,
  RegistryDigestError,
  sha256Digest,
  WASM_CONFIG_MEDIA_TYPE,
  WASM_LAYER_MEDIA_TYPE,
} from "../../registry/mod.ts";
import { FFT } from "./_fixture.ts";

/** What the fake serves: a module artifact whose layer, or whose manifest, is altered on the way. */
async function startFakeTamperingRegistry(tamper: "layer" | "manifest") {
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const layerDigest = await sha256Digest(FFT);
  const config = enc({
    created: "2026-01-01T00:00:00Z",
    architecture: "wasm",
    os: "wasip1",
    layerDigests: [],
  });
  const configDigest = await sha256Digest(config);
  const manifest = enc({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: WASM_CONFIG_MEDIA_TYPE, digest: configDigest, size: config.length },
    layers: [{ mediaType: WASM_LAYER_MEDIA_TYPE, digest: layerDigest, size: FFT.length }],
  });
  const manifestDigest = await sha256Digest(manifest);
  const altered = FFT.slice();
  altered[altered.length - 1]! ^= 0xff;
  const served = new Map<string, { body: Uint8Array; type: string }>([
    [`/v2/plant/fft/manifests/1.0.0`, {
      body: tamper === "manifest"
        ? enc({ ...JSON.parse(new TextDecoder().decode(manifest)), extra: 1 })
        : manifest,
      type: OCI_MANIFEST,
    }],
    [`/v2/plant/fft/manifests/${manifestDigest}`, {
      body: tamper === "manifest"
        ? enc({ ...JSON.parse(new TextDecoder().decode(manifest)), extra: 1 })
        : manifest,
      type: OCI_MANIFEST,
    }],
    [`/v2/plant/fft/blobs/${configDigest}`, { body: config, type: "application/octet-stream" }],
    [`/v2/plant/fft/blobs/${layerDigest}`, {
      body: tamper === "layer" ? altered : FFT,
      type: "application/octet-stream",
    }],
  ]);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const hit = served.get(new URL(req.url).pathname);
    if (!hit) return new Response(JSON.stringify({ errors: [{ code: "NAME_UNKNOWN" }] }), { status: 404 });
    // Like a proxy that rewrites content, it keeps the honest digest header.
    return new Response(hit.body as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": hit.type, "docker-content-digest": manifestDigest },
    });
  });
  return { server, host: `127.0.0.1:${server.addr.port}`, manifestDigest, layerDigest };
}

Deno.test("a blob whose content does not match its digest is refused, naming both digests", async () => {
  const fake = await startFakeTamperingRegistry("layer");
  await using _server = fake.server;
  using client = new RegistryClient(fake.host, { plainHttp: true, timeoutMs: 10_000 });
  await assert.rejects(pullModule(client, { repository: "plant/fft", tag: "1.0.0", digest: null }), (err) => {
    assert.ok(err instanceof RegistryDigestError, String(err));
    assert.equal(err.code, "registry_digest_mismatch");
    assert.equal(err.expected, fake.layerDigest);
    assert.notEqual(err.actual, fake.layerDigest);
    assert.ok(err.message.includes(`${fake.host}/plant/fft@${fake.layerDigest}`), err.message);
    return true;
  });
});

Deno.test("a manifest that does not match the digest asked for, or the one announced, is refused", async () => {
  const fake = await startFakeTamperingRegistry("manifest");
  await using _server = fake.server;
  using client = new RegistryClient(fake.host, { plainHttp: true, timeoutMs: 10_000 });
  for (const ref of [{ tag: null, digest: fake.manifestDigest }, { tag: "1.0.0", digest: null }]) {
    await assert.rejects(pullModule(client, { repository: "plant/fft", ...ref }), (err) => {
      assert.ok(err instanceof RegistryDigestError, String(err));
      assert.equal(err.expected, fake.manifestDigest);
      return true;
    });
  }
});
