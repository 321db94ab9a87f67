/**
 * `kiln keys`, `kiln sign` and `kiln verify` run as a user runs them (`main.ts` in a child process, bounded
 * by a timeout), with openssl checking what `kiln keys` writes.
 */
import assert from "node:assert/strict";
import { ROOT, runKiln } from "../_process.ts";
import { mintPki, openssl, tempDir } from "./_pki.ts";

const ATTEST_YAML = `build:
  compiler: clang 19.1.7
  wasm_backend: wasm32-unknown-unknown
  source_repository: https://git.plant.example/controls/fft
  commit: 3f2a9c1d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a49
  attestation_url: https://ci.plant.example/builds/812/attestation
catalog:
  version: 1.2.0
  hardware: [arm64, x86_64]
  min_runtime_version: 0.1.0
  capabilities: ["read:sim:vibration_1", "write:mqtt:plant/#"]
  max_memory_mb: 8
`;

const noStack = (text: string) =>
  assert.doesNotMatch(text, /^\s+at .+:\d+:\d+\)?$/m, `no stack trace in:\n${text}`);

Deno.test("kiln keys, sign and verify: a plant CA signs a module end to end, and revoking the developer refuses it", async (t) => {
  await using dir = await tempDir("kiln-cli-sign-");
  const ca = `${dir.path}/ca`;
  const dev = `${dir.path}/dev`;
  const wasm = `${dir.path}/fft.wasm`;
  await Deno.copyFile(`${ROOT}modules/fft/fft.wasm`, wasm);
  await Deno.writeTextFile(`${dir.path}/attest.yaml`, ATTEST_YAML);
  const ok = async (args: string[]) => {
    const r = await runKiln(args);
    assert.equal(r.code, 0, `kiln ${args.join(" ")}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const verifyArgs = [
    "verify",
    wasm,
    "--trust",
    `${ca}/root.pem`,
    "--crl",
    `${ca}/root.crl`,
    "--crl",
    `${ca}/intermediate.crl`,
    "--require-crls",
    "--hardware",
    "arm64",
  ];

  await t.step("kiln keys ca writes a root and an intermediate that openssl accepts", async () => {
    const out = await ok(["keys", "ca", "--out", ca, "--name", "Plant"]);
    assert.match(out, /root\s+CN=Plant Root CA\s+SHA256:[0-9a-f]{64}/);
    assert.equal((await Deno.stat(`${ca}/root.key`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${ca}/intermediate.key`)).mode! & 0o777, 0o600);
    const text = await openssl(["x509", "-in", `${ca}/intermediate.pem`, "-noout", "-text"], dir.path);
    assert.match(text, /CA:TRUE, pathlen:0/);
    assert.match(text, /ED25519/);
    await openssl(["verify", "-CAfile", `${ca}/root.pem`, `${ca}/intermediate.pem`], dir.path);
    for (const level of ["root", "intermediate"]) {
      const crl = await openssl(
        ["crl", "-in", `${ca}/${level}.crl`, "-CAfile", `${ca}/${level}.pem`, "-noout", "-text"],
        dir.path,
      );
      assert.match(crl, /No Revoked Certificates/);
    }
  });

  await t.step("kiln keys create and issue give a developer certificate that openssl verifies", async () => {
    await ok(["keys", "create", "--out", dev, "--name", "Jane Doe"]);
    assert.equal((await Deno.stat(`${dev}/jane-doe.key`)).mode! & 0o777, 0o600);
    await openssl(["req", "-in", `${dev}/jane-doe.csr`, "-noout", "-verify"], dir.path);
    const out = await ok(["keys", "issue", "--ca", ca, "--csr", `${dev}/jane-doe.csr`, "--days", "90"]);
    assert.match(out, /certificate .*jane-doe\.pem: CN=Jane Doe\s+SHA256:[0-9a-f]{64}/);
    const verified = await openssl(
      ["verify", "-CAfile", `${ca}/root.pem`, "-untrusted", `${ca}/intermediate.pem`, `${dev}/jane-doe.pem`],
      dir.path,
    );
    assert.match(verified, /jane-doe\.pem: OK/);
    const text = await openssl(["x509", "-in", `${dev}/jane-doe.pem`, "-noout", "-text"], dir.path);
    assert.match(text, /Code Signing/);
    assert.match(text, /CA:FALSE/);
  });

  await t.step(
    "kiln sign writes the bundle and kiln verify prints signer, chain and attestation",
    async () => {
      const signed = await ok([
        "sign",
        wasm,
        "--key",
        `${dev}/jane-doe.key`,
        "--cert",
        `${dev}/jane-doe.pem`,
        "--chain",
        `${ca}/intermediate.pem`,
        "--attest",
        `${dir.path}/attest.yaml`,
      ]);
      assert.match(signed, /signed "fft" 1\.2\.0/);
      const bundle = JSON.parse(await Deno.readTextFile(`${wasm}.sig`));
      assert.equal(bundle.media_type, "application/vnd.kiln.signature.v1+json");
      assert.equal(bundle.dsse_envelope.payloadType, "application/vnd.in-toto+json");
      const out = await ok(verifyArgs);
      assert.match(out, /signature verified/);
      assert.match(out, /signer\s+CN=Jane Doe\s+SHA256:[0-9a-f]{64}/);
      assert.match(out, /<- CN=Plant Intermediate CA/);
      assert.match(out, /<- CN=Plant Root CA\s+SHA256:[0-9a-f]{64}\s+\(trusted root\)/);
      assert.match(out, /2 CRL\(s\) of the chain's CAs checked/);
      assert.match(out, /capabilities read:sim:vibration_1, write:mqtt:plant\/#/);
    },
  );

  await t.step("kiln verify names each failure and exits 1", async () => {
    const refusedBy = async (args: string[], reason: string, what: RegExp) => {
      const r = await runKiln(args);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      noStack(r.stderr);
      assert.match(r.stderr, new RegExp(`refused \\(${reason}\\)`));
      assert.match(r.stderr, what);
    };
    const tampered = `${dir.path}/tampered.wasm`;
    const bytes = await Deno.readFile(wasm);
    bytes[bytes.length - 1]! ^= 1;
    await Deno.writeFile(tampered, bytes);
    await refusedBy(
      [...verifyArgs.slice(0, 1), tampered, ...verifyArgs.slice(2), "--sig", `${wasm}.sig`, "--name", "fft"],
      "digest_mismatch",
      /SHA-256/,
    );
    await refusedBy(
      [...verifyArgs.slice(0, 1), tampered, ...verifyArgs.slice(2), "--name", "fft"],
      "unsigned",
      /no signature bundle/,
    );
    await refusedBy([...verifyArgs, "--hardware", "riscv64"], "wrong_hardware", /"riscv64"/);
    await refusedBy([...verifyArgs, "--runtime-version", "0.0.9"], "runtime_too_old", /0\.1\.0/);
    await refusedBy([...verifyArgs, "--installed-version", "2.0.0"], "downgrade", /1\.2\.0/);
    await refusedBy(
      [...verifyArgs, "--capability", "write:gpio:pin_9"],
      "attestation_narrower",
      /write:gpio:pin_9/,
    );
    await refusedBy([...verifyArgs, "--at", "2030-01-01T00:00:00Z"], "expired", /"CN=Jane Doe"/);
  });

  await t.step(
    "kiln keys revoke adds the developer to the intermediate's CRL and verify refuses the module",
    async () => {
      const out = await ok(["keys", "revoke", "--ca", ca, "--cert", `${dev}/jane-doe.pem`]);
      assert.match(out, /revoked CN=Jane Doe/);
      const crl = await openssl(
        ["crl", "-in", `${ca}/intermediate.crl`, "-CAfile", `${ca}/intermediate.pem`, "-noout", "-text"],
        dir.path,
      );
      assert.match(crl, /Serial Number:/);
      const r = await runKiln(verifyArgs);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /refused \(revoked\).*"CN=Jane Doe".*revoked by "CN=Plant Intermediate CA"/);
    },
  );
});

Deno.test("kiln sign and verify work with keys and certificates minted by openssl", async () => {
  await using dir = await tempDir("kiln-cli-sign-");
  const pki = await mintPki(dir.path, { name: "Debian" });
  const wasm = `${dir.path}/anomaly.wasm`;
  await Deno.copyFile(`${ROOT}modules/anomaly/anomaly.wasm`, wasm);
  await Deno.writeTextFile(
    `${dir.path}/attest.json`,
    JSON.stringify({
      build: {
        compiler: "clang 19",
        wasm_backend: "wasm32",
        source_repository: "https://git.example/anomaly",
        commit: "0123abc",
        attestation_url: "https://ci.example/1",
      },
      catalog: {
        version: "0.3.0",
        hardware: ["x86_64"],
        min_runtime_version: "0.1.0",
        capabilities: [],
        max_memory_mb: 2,
      },
    }),
  );
  const signed = await runKiln([
    "sign",
    wasm,
    "--key",
    pki.developer.keyPath,
    "--cert",
    pki.developer.certPath,
    "--chain",
    pki.intermediate.certPath,
    "--attest",
    `${dir.path}/attest.json`,
    "--out",
    `${dir.path}/a.sig`,
  ]);
  assert.equal(signed.code, 0, signed.stderr);
  const r = await runKiln([
    "verify",
    wasm,
    "--sig",
    `${dir.path}/a.sig`,
    "--trust",
    pki.root.certPath,
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout);
  assert.equal(v.name, "anomaly");
  assert.equal(v.version, "0.3.0");
  assert.deepEqual(v.chain.map((c: { subject: string }) => c.subject), [
    "CN=Jane Doe",
    "CN=Debian Intermediate CA",
    "CN=Debian Root CA",
  ]);
});

Deno.test("kiln keys and sign refuse mistakes with one clear message", async () => {
  await using dir = await tempDir("kiln-cli-sign-");
  await Deno.writeTextFile(`${dir.path}/bad.json`, JSON.stringify({ build: {}, catalog: {} }));
  const first = await runKiln(["keys", "ca", "--out", `${dir.path}/ca`]);
  assert.equal(first.code, 0, first.stderr);
  const cases: [string[], number, RegExp][] = [
    [["keys", "ca", "--out", `${dir.path}/ca`], 1, /root\.key": it exists already/],
    [["keys", "bogus"], 2, /keys takes ca, create, issue, revoke or crl, not "bogus"/],
    [["keys", "create", "--out", dir.path], 2, /keys create needs --name/],
    [
      ["keys", "issue", "--ca", `${dir.path}/ca`, "--csr", `${dir.path}/none.csr`],
      1,
      /none\.csr": no such file/,
    ],
    [["sign", `${ROOT}modules/fft/fft.wasm`, "--cert", "x"], 2, /sign needs --key FILE/],
    [
      [
        "sign",
        `${ROOT}modules/fft/fft.wasm`,
        "--key",
        `${dir.path}/ca/intermediate.key`,
        "--cert",
        `${dir.path}/ca/intermediate.pem`,
        "--attest",
        `${dir.path}/bad.json`,
        "--out",
        `${dir.path}/x.sig`,
      ],
      1,
      /The attestation is invalid: build\.compiler/,
    ],
    [["verify", `${ROOT}modules/fft/fft.wasm`], 2, /verify needs --trust/],
  ];
  for (const [args, code, pattern] of cases) {
    const r = await runKiln(args);
    assert.equal(r.code, code, `kiln ${args.join(" ")}:\n${r.stderr}`);
    noStack(r.stderr);
    assert.match(r.stderr, pattern);
  }
});
