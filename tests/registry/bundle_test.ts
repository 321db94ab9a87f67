/**
 * Air-gapped bundles against a real Distribution registry and a real `kiln run`: modules exported (from the
 * registry by reference, and from a manifest's files) as an OCI image layout, imported into a fresh data
 * directory with the registry stopped, then run by a gateway whose manifest names hosts that are down or do
 * not resolve; a tampered blob, an unsigned module and a signature from another root are refused, and then
 * nothing is imported.
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { getJson, TEST_ADMIN_TOKEN } from "../_process.ts";
import { attestation, sign } from "../signing/_fixture.ts";
import { mintPki, tempDir } from "../signing/_pki.ts";
import { COUNTER_SPEC, counterWasm, countsPast, startGateway } from "../lifecycle/_gateway.ts";
import {
  buildModuleArtifact,
  BundleDigestError,
  BundleError,
  BundleModuleRefusedError,
  OCI_LAYOUT_VERSION,
  pushModule,
  readLayout,
  readLayoutDir,
  RegistryClient,
} from "../../registry/mod.ts";
import { bundleCommand } from "../../cli/bundle.ts";
import { VERSION } from "../../cli/mod.ts";
import { getImageRef, openStore } from "../../snapshots/mod.ts";
import { startRegistry } from "./_registry.ts";

const catalog = (version: string) =>
  attestation({ version, capabilities: [], hardware: ["arm64"], max_memory_mb: 1 });

const spec = COUNTER_SPEC.trim().replaceAll("\n", "\n    ");

/** Every file under `dir`, relative paths (empty when `dir` does not exist). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) out.push(...(await filesUnder(`${dir}/${e.name}`)).map((f) => `${e.name}/${f}`));
      else out.push(e.name);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out;
}

Deno.test("a bundle exported from a registry and a manifest's files runs on a gateway with no registry reachable after its import into a fresh data directory, and deploys to a running gateway over its API", async () => {
  await using tmp = await tempDir("kiln-bundle-run-");
  const dir = tmp.path;
  const pki = await mintPki(`${dir}/pki`, { name: "Plant" });
  await Deno.mkdir(`${dir}/registry`);
  const registry = await startRegistry(`${dir}/registry`);
  let registryStopped = false;
  const host = registry.host;
  try {
    const counter = counterWasm(1);
    const bundle = await sign(pki, counter, { name: "counter", attestation: catalog("1.4.0") });
    {
      using client = new RegistryClient(host, { plainHttp: true });
      await pushModule(client, { repository: "plant/counter", tag: "1.4.0" }, {
        wasm: counter,
        fileName: "counter.wasm",
        signature: new TextEncoder().encode(bundle),
      });
    }
    const local = counterWasm(2);
    await Deno.writeFile(`${dir}/local.wasm`, local);
    await Deno.writeTextFile(
      `${dir}/local.wasm.sig`,
      await sign(pki, local, { name: "local", attestation: catalog("1.0.0") }),
    );
    await Deno.writeTextFile(
      `${dir}/kiln.yaml`,
      `version: 1
device: { id: gw-bundle, hardware: arm64 }
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
`,
    );
    const tar = `${dir}/plant.tar`;
    assert.equal(await bundleCommand(["export", "--manifest", `${dir}/kiln.yaml`, "--out", tar], VERSION), 0);
  } finally {
    await registry[Symbol.asyncDispose]();
    registryStopped = true;
  }
  assert.ok(registryStopped);

  // The gateway: its own copy of the plant's root, a fresh data directory, no registry.
  const gw = `${dir}/gw`;
  await Deno.mkdir(`${gw}/pki/root`, { recursive: true });
  await Deno.copyFile(`${dir}/pki/root/root.pem`, `${gw}/pki/root/root.pem`);
  const data = `${gw}/data`;
  const code = await bundleCommand([
    "import",
    `${dir}/plant.tar`,
    "--data",
    data,
    "--trust",
    `${gw}/pki/root/root.pem`,
    "--hardware",
    "arm64",
    "--manifest-out",
    `${gw}/kiln.yaml`,
  ], VERSION);
  assert.equal(code, 0);
  const manifest = await Deno.readTextFile(`${gw}/kiln.yaml`);
  assert.match(manifest, new RegExp(`image: ${host}/plant/counter:1\\.4\\.0\\n`));
  const localRef = /image: (bundle\.kiln\.invalid\/modules\/local:1\.0\.0@sha256:[a-f0-9]{64})/.exec(manifest)
    ?.[1];
  assert.ok(localRef, `the local module is renamed to an image reference:\n${manifest}`);
  assert.doesNotMatch(manifest, /wasm: local\.wasm/);
  {
    using store = openStore(`${data}/kiln.db`);
    assert.ok(getImageRef(store.db, `${host}/plant/counter:1.4.0`), "the registry image is in the cache");
    assert.ok(getImageRef(store.db, localRef), "the local module is in the cache under its reference");
  }

  {
    await using kiln = await startGateway(`${gw}/kiln.yaml`, data, true);
    await countsPast(kiln.base, "counter", 3);
    await countsPast(kiln.base, "local", 3);
    const c = await getJson<{ signature: { version: string } | null }>(`${kiln.base}/api/v1/modules/counter`);
    const l = await getJson<{ signature: { version: string } | null }>(`${kiln.base}/api/v1/modules/local`);
    assert.equal(c.signature?.version, "1.4.0", "verified again at load, from the imported bundle");
    assert.equal(l.signature?.version, "1.0.0");
    assert.match(kiln.output(), /starting counter from cache \(pulled at /, "its registry is stopped");
    assert.match(kiln.output(), /starting local from cache \(pulled at /, "its host does not resolve");
  }

  // The same bundle deployed to a running gateway that has neither module, through its deploy endpoint.
  const live = `${dir}/live`;
  await Deno.mkdir(live);
  await Deno.writeFile(`${live}/base.wasm`, counterWasm(5));
  await Deno.writeTextFile(
    `${live}/kiln.yaml`,
    `version: 1
device: { id: gw-live, hardware: arm64 }
policy: { allow: ["read:sim:*"] }
signatures: { mode: optional, trusted_roots: [../pki/root/root.pem] }
modules:
  base:
    wasm: base.wasm
    ${spec}
`,
  );
  await using kiln = await startGateway(`${live}/kiln.yaml`, `${live}/data`, true);
  const args = ["import", `${dir}/plant.tar`, "--url", kiln.base, "--token", TEST_ADMIN_TOKEN];
  assert.equal(await bundleCommand([...args, "--trust", `${gw}/pki/root/root.pem`], VERSION), 0);
  await countsPast(kiln.base, "counter", 3);
  await countsPast(kiln.base, "local", 3);
  const deployed = await getJson<{ signature: { version: string } | null }>(
    `${kiln.base}/api/v1/modules/counter`,
  );
  assert.equal(deployed.signature?.version, "1.4.0", "the gateway verified the deploy's signature");
});

Deno.test("a bundle module is the artifact kiln push makes, and an import refuses a tampered blob, an unsigned module and a signature from another root, importing nothing", async (t) => {
  await using tmp = await tempDir("kiln-bundle-refuse-");
  const dir = tmp.path;
  const pki = await mintPki(`${dir}/pki`, { name: "Plant" });
  const other = await mintPki(`${dir}/other`, { name: "Elsewhere" });
  await Deno.mkdir(`${dir}/registry`);
  await using registry = await startRegistry(`${dir}/registry`);
  const host = registry.host;
  const counter = counterWasm(3);
  const signature = new TextEncoder().encode(
    await sign(pki, counter, { name: "counter", attestation: catalog("2.0.0") }),
  );
  const created = new Date("2026-01-02T03:04:05.000Z");
  {
    using client = new RegistryClient(host, { plainHttp: true });
    const pushed = await pushModule(client, { repository: "plant/counter", tag: "2.0.0" }, {
      wasm: counter,
      fileName: "counter.wasm",
      signature,
      catalog: catalog("2.0.0").catalog,
      created,
    });
    await pushModule(client, { repository: "plant/unsigned", tag: "1.0.0" }, {
      wasm: counterWasm(4),
      fileName: "unsigned.wasm",
    });
    await t.step(
      "a module built from files has the manifest and signature digests kiln push gives it",
      async () => {
        const built = await buildModuleArtifact({
          wasm: counter,
          fileName: "counter.wasm",
          signature,
          catalog: catalog("2.0.0").catalog,
          created,
        });
        assert.equal(built.digest, pushed.digest);
        assert.equal(built.signatures[0]?.digest, pushed.signatureDigest);
      },
    );
  }
  const signed = `${host}/plant/counter:2.0.0`;
  const unsigned = `${host}/plant/unsigned:1.0.0`;
  const flags = ["--plain-http"];
  const root = `${dir}/pki/root/root.pem`;
  const importInto = (bundle: string, data: string, trust = root) =>
    bundleCommand(["import", bundle, "--data", data, "--trust", trust], VERSION);

  await t.step(
    "the export is an OCI image layout with the module, its signature as a referrer, and no manifest",
    async () => {
      assert.equal(await bundleCommand(["export", "--out", `${dir}/good`, ...flags, signed], VERSION), 0);
      const layout = JSON.parse(await Deno.readTextFile(`${dir}/good/oci-layout`));
      assert.equal(layout.imageLayoutVersion, OCI_LAYOUT_VERSION);
      const read = await readLayout(await readLayoutDir(`${dir}/good`), "good");
      assert.equal(read.modules.length, 1);
      assert.equal(read.modules[0]!.reference, signed);
      assert.deepEqual(read.modules[0]!.wasm, counter);
      assert.deepEqual(read.modules[0]!.signatures[0], signature);
      assert.equal(read.deployment, null);
    },
  );

  await t.step("a tampered blob is refused by its name and nothing is imported", async () => {
    await Deno.mkdir(`${dir}/tampered`);
    for (const f of await filesUnder(`${dir}/good`)) {
      await Deno.mkdir(dirname(`${dir}/tampered/${f}`), { recursive: true });
      await Deno.copyFile(`${dir}/good/${f}`, `${dir}/tampered/${f}`);
    }
    const read = await readLayout(await readLayoutDir(`${dir}/good`), "good");
    const hex = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", read.modules[0]!.wasm as Uint8Array<ArrayBuffer>)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const blob = `${dir}/tampered/blobs/sha256/${hex}`;
    const bytes = await Deno.readFile(blob);
    bytes[bytes.length - 1] = bytes.at(-1)! ^ 0xff;
    await Deno.writeFile(blob, bytes);
    const data = `${dir}/data-tampered`;
    await Deno.mkdir(data);
    await assert.rejects(importInto(`${dir}/tampered`, data), (err: unknown) => {
      assert.ok(err instanceof BundleDigestError);
      assert.equal(err.code, "bundle_digest_mismatch");
      assert.equal(err.blob, `blobs/sha256/${hex}`);
      return true;
    });
    assert.deepEqual(await filesUnder(data), []);
  });

  await t.step(
    "an unsigned module is refused by name under signatures required, and its signed companion is not imported either",
    async () => {
      const tar = `${dir}/mixed.tar`;
      assert.equal(await bundleCommand(["export", "--out", tar, ...flags, signed, unsigned], VERSION), 0);
      const data = `${dir}/data-unsigned`;
      await Deno.mkdir(data);
      await assert.rejects(importInto(tar, data), (err: unknown) => {
        assert.ok(err instanceof BundleModuleRefusedError);
        assert.equal(err.code, "bundle_module_refused");
        assert.equal(err.reason, "unsigned");
        assert.equal(err.reference, unsigned);
        return true;
      });
      assert.deepEqual(await filesUnder(data), []);
    },
  );

  await t.step("a signature from a root the gateway does not trust is refused", async () => {
    const data = `${dir}/data-other`;
    await Deno.mkdir(data);
    await assert.rejects(importInto(`${dir}/good`, data, `${dir}/other/root/root.pem`), (err: unknown) => {
      assert.ok(err instanceof BundleModuleRefusedError);
      assert.equal(err.reason, "untrusted_root");
      assert.equal(err.module, "counter");
      return true;
    });
    assert.deepEqual(await filesUnder(data), []);
    assert.ok(other.root.certPem.length > 0);
  });

  await t.step("a tar whose entry is a link is refused and nothing is imported", async () => {
    await Deno.mkdir(`${dir}/linked/blobs/sha256`, { recursive: true });
    await Deno.copyFile(`${dir}/good/oci-layout`, `${dir}/linked/oci-layout`);
    await Deno.copyFile(`${dir}/good/index.json`, `${dir}/linked/index.json`);
    await Deno.symlink("/etc/passwd", `${dir}/linked/blobs/sha256/${"0".repeat(64)}`);
    const made = await new Deno.Command("tar", {
      args: ["-cf", `${dir}/linked.tar`, "-C", `${dir}/linked`, "oci-layout", "index.json", "blobs"],
      signal: AbortSignal.timeout(30_000),
    }).output();
    assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
    const data = `${dir}/data-linked`;
    await Deno.mkdir(data);
    await assert.rejects(importInto(`${dir}/linked.tar`, data), (err: unknown) => {
      assert.ok(err instanceof BundleError);
      assert.equal(err.code, "bundle_invalid");
      return true;
    });
    assert.deepEqual(await filesUnder(data), []);
  });

  await t.step(
    "the trust roots can come from the gateway's own manifest, and with them a bundle imports",
    async () => {
      await Deno.writeFile(`${dir}/other.wasm`, counterWasm(9));
      const gateway = (root: string) =>
        `version: 1
device: { id: gw-config, hardware: arm64 }
policy: { allow: ["read:sim:*"] }
signatures: { mode: required, trusted_roots: [${root}] }
modules:
  other:
    wasm: other.wasm
    ${spec}
`;
      await Deno.writeTextFile(`${dir}/gateway.yaml`, gateway("other/root/root.pem"));
      const data = `${dir}/data-config`;
      const args = ["import", `${dir}/good`, "--data", data, "--config", `${dir}/gateway.yaml`];
      await assert.rejects(bundleCommand(args, VERSION), (err: unknown) => {
        assert.ok(err instanceof BundleModuleRefusedError);
        assert.equal(err.reason, "untrusted_root", "the manifest's root is another PKI's");
        return true;
      });
      await Deno.writeTextFile(`${dir}/gateway.yaml`, gateway("pki/root/root.pem"));
      assert.equal(await bundleCommand(args, VERSION), 0);
      using store = openStore(`${data}/kiln.db`);
      assert.ok(getImageRef(store.db, signed));
    },
  );

  await t.step(
    "a good bundle is imported: the module and its signature as blobs, the reference recorded",
    async () => {
      const data = `${dir}/data-good`;
      assert.equal(await importInto(`${dir}/good`, data), 0);
      using store = openStore(`${data}/kiln.db`);
      const row = getImageRef(store.db, signed);
      assert.ok(row);
      assert.deepEqual(await Deno.readFile(`${data}/blobs/sha256/${row.wasmSha256}`), counter);
      assert.deepEqual(await Deno.readFile(`${data}/blobs/sha256/${row.signatureSha256}`), signature);
    },
  );
});
