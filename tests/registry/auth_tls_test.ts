/**
 * The registry client against a real Distribution registry (docker-registry 2.8) with HTTP Basic auth
 * (htpasswd, bcrypt) and with TLS from a test CA: round trips work with the right credentials or CA, and
 * wrong ones end in named errors.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  pullModule,
  pushModule,
  RegistryClient,
  RegistryHttpError,
  RegistryTooLargeError,
  RegistryUnavailableError,
} from "../../registry/mod.ts";
import { runKiln } from "../_process.ts";
import { tempDir } from "../hal/_mosquitto.ts";
import { assertVerifies, signedFft } from "./_fixture.ts";
import { startRegistry } from "./_registry.ts";

Deno.test("docker-registry with HTTP Basic auth", async (t) => {
  await using dir = await tempDir();
  await using registry = await startRegistry(dir.path, { users: { ci: "s3cret-pass" } });
  const signed = await signedFft(dir.path);
  await Deno.writeFile(`${dir.path}/fft.wasm`, signed.wasm);
  await Deno.writeTextFile(`${dir.path}/fft.wasm.sig`, signed.bundle);
  await Deno.writeTextFile(`${dir.path}/password`, "s3cret-pass\n");
  await Deno.writeTextFile(`${dir.path}/wrong`, "not-the-password\n");
  const ref = `${registry.host}/plant/fft:1.2.0`;
  const login = (
    file: string,
  ) => ["--username", "ci", "--password-file", `${dir.path}/${file}`, "--plain-http"];

  await t.step(
    "kiln push and pull with the right credentials round-trip the module and its signature",
    async () => {
      const push = await runKiln(["push", `${dir.path}/fft.wasm`, ref, ...login("password")]);
      assert.equal(push.code, 0, push.stderr + registry.log());
      const pull = await runKiln(["pull", ref, "--out", `${dir.path}/out`, ...login("password")]);
      assert.equal(pull.code, 0, pull.stderr);
      const wasm = await Deno.readFile(`${dir.path}/out/fft.wasm`);
      assert.deepEqual(wasm, signed.wasm);
      await assertVerifies(signed, wasm, await Deno.readFile(`${dir.path}/out/fft.wasm.sig`));
    },
  );

  await t.step("wrong credentials are a 401 that names the registry and repository", async () => {
    const pull = await runKiln(["pull", ref, "--out", `${dir.path}/denied`, ...login("wrong")]);
    assert.equal(pull.code, 1);
    assert.ok(pull.stderr.includes(`"${ref}"`), pull.stderr);
    assert.match(pull.stderr, /HTTP 401/);
    using client = new RegistryClient(registry.host, {
      plainHttp: true,
      credentials: { username: "ci", password: "nope" },
    });
    await assert.rejects(client.getManifest("plant/fft", "1.2.0"), (err) => {
      assert.ok(err instanceof RegistryHttpError);
      assert.equal(err.code, "registry_unauthorized");
      assert.equal(err.kind, "unauthorized");
      assert.equal(err.status, 401);
      return true;
    });
  });

  await t.step("no credentials at all is a 401 that says none were given", async () => {
    using client = new RegistryClient(registry.host, { plainHttp: true });
    await assert.rejects(client.listTags("plant/fft"), (err) => {
      assert.ok(err instanceof RegistryHttpError);
      assert.equal(err.code, "registry_unauthorized");
      assert.match(err.message, /no credentials given/);
      return true;
    });
  });

  await t.step("a module layer over the size limit is refused before it is downloaded", async () => {
    using client = new RegistryClient(registry.host, {
      plainHttp: true,
      credentials: { username: "ci", password: "s3cret-pass" },
    });
    const ref = { repository: "plant/fft", tag: "1.2.0", digest: null };
    await assert.rejects(pullModule(client, ref, { maxModuleBytes: 1024 }), (err) => {
      assert.ok(err instanceof RegistryTooLargeError);
      assert.equal(err.code, "registry_too_large");
      assert.equal(err.sizeBytes, signed.wasm.length);
      return true;
    });
  });
});

Deno.test("docker-registry over TLS with a test CA", async (t) => {
  await using dir = await tempDir();
  await using registry = await startRegistry(dir.path, { tls: true });
  const signed = await signedFft(`${dir.path}/pki`);
  const caFile = `${dir.path}/ca.crt`;

  await t.step("push and pull work when the CA is given", async () => {
    using client = new RegistryClient(registry.host, { caCerts: [registry.caCert!] });
    const pushed = await pushModule(client, { repository: "plant/fft", tag: "1.2.0" }, {
      wasm: signed.wasm,
      fileName: "fft.wasm",
      signature: new TextEncoder().encode(signed.bundle),
    });
    const pulled = await pullModule(client, { repository: "plant/fft", tag: null, digest: pushed.digest });
    assert.deepEqual(pulled.wasm, signed.wasm);
    assert.equal(pulled.signatures.length, 1);
    await assertVerifies(signed, pulled.wasm, pulled.signatures[0]!);
  });

  await t.step("kiln pull --ca-file reads the CA from a file", async () => {
    const pull = await runKiln([
      "pull",
      `${registry.host}/plant/fft:1.2.0`,
      "--out",
      `${dir.path}/out`,
      "--ca-file",
      caFile,
    ]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.deepEqual(await Deno.readFile(`${dir.path}/out/fft.wasm`), signed.wasm);
  });

  await t.step("without the CA the certificate is refused and the error names the registry", async () => {
    using client = new RegistryClient(registry.host);
    await assert.rejects(client.listTags("plant/fft"), (err) => {
      assert.ok(err instanceof RegistryUnavailableError);
      assert.equal(err.code, "registry_unavailable");
      assert.ok(err.message.includes(registry.host), err.message);
      return true;
    });
  });
});
