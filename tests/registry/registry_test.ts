/**
 * Modules as OCI artifacts against a real Distribution registry (Debian's docker-registry 2.8, plain HTTP,
 * anonymous): `kiln push`/`kiln pull` round trips, the layout, pulls by digest, named errors, limits and the
 * referrers tag fallback.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  OCI_INDEX,
  OCI_MANIFEST,
  pullModule,
  pushModule,
  referrersTag,
  RegistryClient,
  RegistryHttpError,
  RegistryTooLargeError,
  sha256Digest,
  SIGNATURE_ARTIFACT_TYPE,
  WASM_CONFIG_MEDIA_TYPE,
  WASM_LAYER_MEDIA_TYPE,
} from "../../registry/mod.ts";
import { runKiln } from "../_process.ts";
import { tempDir } from "../hal/_mosquitto.ts";
import { assertVerifies, FFT, signedFft } from "./_fixture.ts";
import { startRegistry } from "./_registry.ts";

Deno.test("docker-registry over plain HTTP, anonymous", async (t) => {
  await using dir = await tempDir();
  await using registry = await startRegistry(`${dir.path}`);
  const signed = await signedFft(`${dir.path}`);
  const work = `${dir.path}/work`;
  await Deno.mkdir(work);
  await Deno.writeFile(`${work}/fft.wasm`, signed.wasm);
  await Deno.writeTextFile(`${work}/fft.wasm.sig`, signed.bundle);
  const ref = `${registry.host}/analytics/fft:1.2.0`;
  let pushedDigest = "";

  await t.step("kiln push then kiln pull returns the same bytes and a signature that verifies", async () => {
    const push = await runKiln(["push", `${work}/fft.wasm`, ref, "--plain-http"]);
    assert.equal(push.code, 0, push.stderr + registry.log());
    pushedDigest = /digest: (sha256:[a-f0-9]{64})/.exec(push.stdout)?.[1] ?? "";
    assert.notEqual(pushedDigest, "", push.stdout);
    assert.match(push.stdout, /signature: sha256:[a-f0-9]{64} .*tag sha256-/);
    const out = `${dir.path}/pulled`;
    const pull = await runKiln(["pull", ref, "--out", out, "--plain-http"]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.ok(pull.stdout.includes(`digest: ${pushedDigest}`), pull.stdout);
    const wasm = await Deno.readFile(`${out}/fft.wasm`);
    assert.deepEqual(wasm, signed.wasm);
    assert.equal(await sha256Digest(wasm), await sha256Digest(FFT));
    const bundle = await Deno.readFile(`${out}/fft.wasm.sig`);
    assert.equal(new TextDecoder().decode(bundle), signed.bundle);
    await assertVerifies(signed, wasm, bundle);
  });

  await t.step("the manifest follows the CNCF Wasm layout with the signed facts in its config", async () => {
    using client = new RegistryClient(registry.host, { plainHttp: true });
    const fetched = await client.getManifest("analytics/fft", "1.2.0");
    assert.equal(fetched.digest, pushedDigest);
    const manifest = JSON.parse(new TextDecoder().decode(fetched.bytes));
    assert.equal(manifest.mediaType, OCI_MANIFEST);
    assert.equal(manifest.artifactType, WASM_CONFIG_MEDIA_TYPE);
    assert.equal(manifest.config.mediaType, WASM_CONFIG_MEDIA_TYPE);
    assert.equal(manifest.layers.length, 1);
    assert.equal(manifest.layers[0].mediaType, WASM_LAYER_MEDIA_TYPE);
    assert.equal(manifest.layers[0].digest, await sha256Digest(FFT));
    const config = JSON.parse(
      new TextDecoder().decode(await client.getBlob("analytics/fft", manifest.config.digest)),
    );
    assert.equal(config.architecture, "wasm");
    assert.deepEqual(config.layerDigests, [manifest.layers[0].digest]);
    assert.equal(`sha256:${config.kiln.module_sha256}`, manifest.layers[0].digest);
    assert.equal(config.kiln.signed, true);
    assert.equal(config.kiln.catalog.version, "1.2.0");
    assert.deepEqual(config.kiln.catalog.hardware, ["arm64", "x86_64"]);
    assert.equal(config.kiln.catalog.max_memory_mb, 8);
  });

  await t.step(
    "the signature is listed under the referrers tag, as Distribution 2.8 has no referrers API",
    async () => {
      using client = new RegistryClient(registry.host, { plainHttp: true });
      const tags = await client.listTags("analytics/fft");
      assert.ok(tags.includes(referrersTag(pushedDigest)), tags.join(","));
      const index = await client.getManifest("analytics/fft", referrersTag(pushedDigest), [OCI_INDEX]);
      const parsed = JSON.parse(new TextDecoder().decode(index.bytes));
      assert.equal(parsed.mediaType, OCI_INDEX);
      assert.equal(parsed.manifests.length, 1);
      assert.equal(parsed.manifests[0].artifactType, SIGNATURE_ARTIFACT_TYPE);
      const referrers = await client.listReferrers("analytics/fft", pushedDigest, SIGNATURE_ARTIFACT_TYPE);
      assert.equal(referrers.source, "tag");
      assert.equal(referrers.descriptors[0]?.digest, parsed.manifests[0].digest);
      const sig = JSON.parse(new TextDecoder().decode(
        (await client.getManifest("analytics/fft", parsed.manifests[0].digest)).bytes,
      ));
      assert.equal(sig.subject.digest, pushedDigest);
    },
  );

  await t.step(
    "a pull by digest returns that manifest's module, and a wrong digest is a named 404",
    async () => {
      const out = `${dir.path}/by-digest`;
      const pull = await runKiln([
        "pull",
        `${registry.host}/analytics/fft@${pushedDigest}`,
        "--out",
        out,
        "--plain-http",
      ]);
      assert.equal(pull.code, 0, pull.stderr);
      assert.deepEqual(await Deno.readFile(`${out}/fft.wasm`), FFT);
      using client = new RegistryClient(registry.host, { plainHttp: true });
      const missing = `sha256:${"0".repeat(64)}`;
      await assert.rejects(
        pullModule(client, { repository: "analytics/fft", tag: null, digest: missing }),
        (err) => {
          assert.ok(err instanceof RegistryHttpError);
          assert.equal(err.code, "registry_not_found");
          assert.ok(err.message.includes(`analytics/fft@${missing}`), err.message);
          return true;
        },
      );
    },
  );

  await t.step("an unknown tag is a 404 error that names registry, repository, tag and status", async () => {
    const pull = await runKiln([
      "pull",
      `${registry.host}/analytics/fft:9.9.9`,
      "--out",
      `${dir.path}/x`,
      "--plain-http",
    ]);
    assert.equal(pull.code, 1);
    assert.ok(pull.stderr.includes(`"${registry.host}/analytics/fft:9.9.9"`), pull.stderr);
    assert.match(pull.stderr, /HTTP 404 MANIFEST_UNKNOWN/);
  });

  await t.step("an unsigned module round-trips without a signature", async () => {
    using client = new RegistryClient(registry.host, { plainHttp: true });
    const pushed = await pushModule(client, { repository: "analytics/unsigned", tag: "1" }, {
      wasm: FFT,
      fileName: "fft.wasm",
    });
    assert.equal(pushed.signatureDigest, null);
    const pulled = await pullModule(client, { repository: "analytics/unsigned", tag: "1", digest: null });
    assert.deepEqual(pulled.wasm, FFT);
    assert.equal(pulled.signatures.length, 0);
    assert.equal(pulled.config.kiln.signed, false);
  });

  await t.step("a blob larger than the chunk size is uploaded in chunks and comes back whole", async () => {
    using client = new RegistryClient(registry.host, { plainHttp: true, chunkBytes: 4096 });
    const big = new Uint8Array(3 * 4096 + 17).map((_, i) => (i * 31) & 0xff);
    const { digest } = await client.pushBlob("analytics/chunks", big);
    assert.equal(digest, await sha256Digest(big));
    assert.deepEqual(await client.getBlob("analytics/chunks", digest), big);
  });

  await t.step(
    "a manifest over the client's limit is refused, and 2.8 itself stores none over 4 MiB",
    async () => {
      using client = new RegistryClient(registry.host, { plainHttp: true });
      const config = await client.pushBlob("analytics/huge", new TextEncoder().encode("{}"));
      const manifest = (padding: number) =>
        new TextEncoder().encode(JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: "application/vnd.oci.empty.v1+json", ...config },
          layers: [],
          annotations: { padding: "x".repeat(padding) },
        }));
      // Distribution 2.8 refuses a manifest PUT over 4 MiB itself (its maxManifestBodySize).
      await assert.rejects(
        client.putManifest("analytics/huge", "over", {
          bytes: manifest(4 * 1024 * 1024),
          mediaType: OCI_MANIFEST,
        }),
        (err) => err instanceof RegistryHttpError && err.status === 400,
      );
      await client.putManifest("analytics/huge", "big", {
        bytes: manifest(128 * 1024),
        mediaType: OCI_MANIFEST,
      });
      using strict = new RegistryClient(registry.host, { plainHttp: true, maxManifestBytes: 64 * 1024 });
      await assert.rejects(strict.getManifest("analytics/huge", "big"), (err) => {
        assert.ok(err instanceof RegistryTooLargeError);
        assert.equal(err.code, "registry_too_large");
        assert.equal(err.limitBytes, 64 * 1024);
        assert.ok(err.message.includes("analytics/huge:big"), err.message);
        return true;
      });
      assert.equal((await client.getManifest("analytics/huge", "big")).bytes.length > 128 * 1024, true);
    },
  );

  await t.step("kiln push refuses a signature that does not sign the module", async () => {
    await Deno.writeFile(`${work}/other.wasm`, new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    const push = await runKiln([
      "push",
      `${work}/other.wasm`,
      ref,
      "--sig",
      `${work}/fft.wasm.sig`,
      "--plain-http",
    ]);
    assert.equal(push.code, 1);
    assert.match(push.stderr, /digest_mismatch/);
  });
});
