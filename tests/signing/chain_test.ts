/**
 * Signature, chain, validity and revocation checks of `verifyModule`, against certificates and CRLs minted
 * with Debian's openssl.
 */
import assert from "node:assert/strict";
import { verifyModule } from "../../signing/mod.ts";
import { ANOMALY, context, editBundle, FFT, refused, sign, trustOf } from "./_fixture.ts";
import { crl, daysFromNow, mintPki, openssl, revoke, tempDir, window } from "./_pki.ts";

Deno.test("a module signed by a developer certificate under a trusted root verifies, naming signer and chain", async () => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path);
  const v = await verifyModule(FFT, await sign(pki, FFT), context(trustOf(pki)));
  assert.equal(v.name, "fft");
  assert.equal(v.version, "1.2.0");
  assert.equal(v.signer.subject, "CN=Jane Doe");
  assert.deepEqual(v.chain.map((c) => c.subject), [
    "CN=Jane Doe",
    "CN=Test Intermediate CA",
    "CN=Test Root CA",
  ]);
  // The fingerprint is openssl's SHA-256 fingerprint, lowercase and without colons.
  const out = await openssl(
    ["x509", "-in", pki.developer.certPath, "-noout", "-fingerprint", "-sha256"],
    dir.path,
  );
  const hex = out.trim().split("=")[1]!.replaceAll(":", "").toLowerCase();
  assert.equal(v.signer.fingerprint, `SHA256:${hex}`);
  assert.equal(v.attestation.build.commit, "3f2a9c1d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a49");
});

Deno.test("a module with no signature bundle is refused as unsigned", async () => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path);
  await refused(verifyModule(FFT, null, context(trustOf(pki))), "unsigned", '"fft"', "no signature bundle");
});

Deno.test("a module with one byte changed is refused as a digest mismatch naming both digests", async () => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path);
  const sig = await sign(pki, FFT);
  const tampered = FFT.slice();
  tampered[tampered.length - 1]! ^= 0x01;
  const err = await refused(verifyModule(tampered, sig, context(trustOf(pki))), "digest_mismatch", "SHA-256");
  assert.match(err.message, /is [0-9a-f]{64}, the signature covers "fft" with SHA-256 [0-9a-f]{64}/);
});

Deno.test("another module's signature is refused as wrong_subject naming the module it signs", async () => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path);
  const sig = await sign(pki, FFT, { name: "fft" });
  await refused(
    verifyModule(ANOMALY, sig, context(trustOf(pki), { moduleName: "anomaly" })),
    "wrong_subject",
    'the signature is for "fft", not "anomaly"',
  );
});

Deno.test("a statement altered after signing is refused as bad_signature naming the signing certificate", async () => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path);
  const sig = editBundle(await sign(pki, FFT), (b) => {
    const statement = JSON.parse(atob(b.dsse_envelope.payload));
    statement.predicate.catalog.max_memory_mb = 4096;
    b.dsse_envelope.payload = btoa(JSON.stringify(statement));
  });
  await refused(verifyModule(FFT, sig, context(trustOf(pki))), "bad_signature", '"CN=Jane Doe" (SHA256:');
});

Deno.test("a signature by a key outside the chain is refused as unknown_signer or bad_signature", async (t) => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path);
  const other = await mintPki(`${dir.path}/other`, { name: "Other", developer: "Mallory" });
  const chain = [pki.developer.certPem, pki.intermediate.certPem];
  const byOther = await sign(other, FFT);
  await t.step("its key id names a certificate the bundle does not carry: unknown_signer", async () => {
    const sig = editBundle(byOther, (b) => b.certificate_chain = chain);
    await refused(
      verifyModule(FFT, sig, context(trustOf(pki))),
      "unknown_signer",
      "not the bundle's signing certificate",
    );
  });
  await t.step("it claims the chain's key id but another key signed: bad_signature", async () => {
    const jane = JSON.parse(await sign(pki, FFT)).dsse_envelope.signatures[0].keyid;
    const sig = editBundle(byOther, (b) => {
      b.certificate_chain = chain;
      b.dsse_envelope.signatures[0].keyid = jane;
    });
    await refused(verifyModule(FFT, sig, context(trustOf(pki))), "bad_signature", "CN=Jane Doe");
  });
});

Deno.test("a chain that does not reach a trusted root is refused as untrusted_root naming the issuer", async (t) => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path);
  const other = await mintPki(`${dir.path}/other`, { name: "Rogue" });
  await t.step("signed under another root", async () => {
    await refused(
      verifyModule(FFT, await sign(other, FFT), context(trustOf(pki))),
      "untrusted_root",
      '"CN=Rogue Intermediate CA"',
      'issued by "CN=Rogue Root CA"',
    );
  });
  await t.step("carrying its own self-signed root", async () => {
    const chain = [other.developer.certPem, other.intermediate.certPem, other.root.certPem];
    await refused(
      verifyModule(FFT, await sign(other, FFT, { chain }), context(trustOf(pki))),
      "untrusted_root",
      '"CN=Rogue Root CA"',
    );
  });
  await t.step("without its intermediate", async () => {
    await refused(
      verifyModule(FFT, await sign(pki, FFT, { chain: [pki.developer.certPem] }), context(trustOf(pki))),
      "untrusted_root",
      'issued by "CN=Test Intermediate CA"',
    );
  });
  await t.step("with an intermediate that did not issue the developer certificate", async () => {
    const chain = [pki.developer.certPem, other.intermediate.certPem];
    await refused(
      verifyModule(FFT, await sign(pki, FFT, { chain }), context(trustOf(pki))),
      "untrusted_root",
      "the chain is broken",
      '"CN=Rogue Intermediate CA"',
    );
  });
});

Deno.test("a bundle that carries the trusted root verifies against the trust store's copy", async () => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path);
  const chain = [pki.developer.certPem, pki.intermediate.certPem, pki.root.certPem];
  const v = await verifyModule(FFT, await sign(pki, FFT, { chain }), context(trustOf(pki)));
  assert.equal(v.chain.length, 3);
});

Deno.test("a CA certificate used to sign modules is refused as unknown_signer", async () => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path, { developerExtensions: "v3_leaf_ca" });
  await refused(
    verifyModule(FFT, await sign(pki, FFT), context(trustOf(pki))),
    "unknown_signer",
    "is a CA certificate",
  );
});

Deno.test("an expired certificate at each level of the chain is refused as expired, naming it", async (t) => {
  await using dir = await tempDir("kiln-sign-");
  const cases = [
    ["developer", { developerWindow: window(-10, -1) }, "signing certificate", "CN=Jane Doe"],
    [
      "intermediate",
      { intermediate: window(-10, -1) },
      "intermediate certificate",
      "CN=Test Intermediate CA",
    ],
    ["root", { root: window(-10, -1) }, "root certificate", "CN=Test Root CA"],
  ] as const;
  for (const [level, options, role, subject] of cases) {
    await t.step(level, async () => {
      const since = {
        root: window(-20, 3650),
        intermediate: window(-20, 1825),
        developerWindow: window(-20, 365),
      };
      const pki = await mintPki(`${dir.path}/${level}`, { ...since, ...options });
      const sig = await sign(pki, FFT, { now: daysFromNow(-5) });
      await refused(
        verifyModule(FFT, sig, context(trustOf(pki))),
        "expired",
        `the ${role} "${subject}"`,
        "expired at",
      );
    });
  }
});

Deno.test("a certificate not yet valid at each level of the chain is refused as not_yet_valid, naming it", async (t) => {
  await using dir = await tempDir("kiln-sign-");
  const cases = [
    ["developer", { developerWindow: window(2, 30) }, "signing certificate", "CN=Jane Doe"],
    ["intermediate", { intermediate: window(2, 30) }, "intermediate certificate", "CN=Test Intermediate CA"],
    ["root", { root: window(2, 30) }, "root certificate", "CN=Test Root CA"],
  ] as const;
  for (const [level, options, role, subject] of cases) {
    await t.step(level, async () => {
      const pki = await mintPki(`${dir.path}/${level}`, options);
      const sig = await sign(pki, FFT, { now: daysFromNow(3) });
      await refused(
        verifyModule(FFT, sig, context(trustOf(pki))),
        "not_yet_valid",
        `the ${role} "${subject}"`,
      );
      // The same bundle verifies once the clock reaches the window.
      await verifyModule(FFT, sig, context(trustOf(pki), { now: daysFromNow(3) }));
    });
  }
});

Deno.test("a revoked certificate is refused as revoked, naming it and the CA whose CRL lists it", async (t) => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path);
  const sig = await sign(pki, FFT);
  await t.step("the developer certificate, in the intermediate's CRL", async () => {
    const intCrl = await revoke(pki.intermediate, pki.developer.certPath);
    const rootCrl = await crl(pki.root);
    await refused(
      verifyModule(FFT, sig, context(trustOf(pki, [rootCrl, intCrl]))),
      "revoked",
      'signing certificate "CN=Jane Doe"',
      'revoked by "CN=Test Intermediate CA"',
    );
  });
  await t.step("the intermediate certificate, in the root's CRL", async () => {
    const fresh = await mintPki(`${dir.path}/fresh`);
    const rootCrl = await revoke(fresh.root, fresh.intermediate.certPath);
    await refused(
      verifyModule(
        FFT,
        await sign(fresh, FFT),
        context(trustOf(fresh, [rootCrl, await crl(fresh.intermediate)])),
      ),
      "revoked",
      'intermediate certificate "CN=Test Intermediate CA"',
      'revoked by "CN=Test Root CA"',
    );
  });
});

Deno.test("CRLs that cannot be trusted or are missing fail closed as revocation_unavailable", async (t) => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path);
  const sig = await sign(pki, FFT);
  const current = [await crl(pki.root), await crl(pki.intermediate, 1)];
  await t.step("current CRLs from both CAs, required: verifies", async () => {
    const v = await verifyModule(FFT, sig, context(trustOf(pki, current, true)));
    assert.equal(v.crlsChecked, 2);
  });
  await t.step("a CRL in the intermediate's name signed by another key", async () => {
    const forger = await mintPki(`${dir.path}/forger`);
    const forged = await crl(forger.intermediate);
    await refused(
      verifyModule(FFT, sig, context(trustOf(pki, [forged]))),
      "revocation_unavailable",
      'of "CN=Test Intermediate CA"',
      "does not verify",
    );
  });
  await t.step("an expired CRL", async () => {
    await refused(
      verifyModule(FFT, sig, context(trustOf(pki, current), { now: daysFromNow(2) })),
      "revocation_unavailable",
      "expired at",
    );
  });
  await t.step("no CRL from the intermediate when CRLs are required", async () => {
    await refused(
      verifyModule(FFT, sig, context(trustOf(pki, [current[0]!], true))),
      "revocation_unavailable",
      'no CRL from "CN=Test Intermediate CA"',
    );
  });
});

Deno.test("a second intermediate below a pathlen:0 intermediate is refused as untrusted_root", async () => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path);
  const d = dir.path;
  // The intermediate (pathlen:0) issues a CA certificate, which issues a developer certificate.
  await openssl(["genpkey", "-algorithm", "ed25519", "-out", `${d}/sub.key`], d);
  await openssl(["req", "-new", "-key", `${d}/sub.key`, "-subj", "/CN=Sub CA", "-out", `${d}/sub.csr`], d);
  await openssl([
    "ca",
    "-batch",
    "-notext",
    "-config",
    pki.intermediate.config!,
    "-cert",
    pki.intermediate.certPath,
    "-keyfile",
    pki.intermediate.keyPath,
    "-in",
    `${d}/sub.csr`,
    "-extensions",
    "v3_int",
    "-days",
    "30",
    "-out",
    `${d}/sub.pem`,
  ], d);
  await openssl(["genpkey", "-algorithm", "ed25519", "-out", `${d}/dev2.key`], d);
  await openssl(["req", "-new", "-key", `${d}/dev2.key`, "-subj", "/CN=Dev Two", "-out", `${d}/dev2.csr`], d);
  await Deno.writeTextFile(
    `${d}/leaf.ext`,
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    `${d}/dev2.csr`,
    "-CA",
    `${d}/sub.pem`,
    "-CAkey",
    `${d}/sub.key`,
    "-CAcreateserial",
    "-days",
    "10",
    "-extfile",
    `${d}/leaf.ext`,
    "-out",
    `${d}/dev2.pem`,
  ], d);
  const read = (f: string) => Deno.readTextFile(`${d}/${f}`);
  const chain = [await read("dev2.pem"), await read("sub.pem"), pki.intermediate.certPem];
  const sig = await sign(pki, FFT, { chain, key: await read("dev2.key") });
  await refused(
    verifyModule(FFT, sig, context(trustOf(pki))),
    "untrusted_root",
    '"CN=Test Intermediate CA"',
    "allows 0 intermediate(s) below it (pathlen), the chain has 1",
  );
});

Deno.test("a bundle whose only certificate is the trusted root is refused as unknown_signer", async () => {
  await using dir = await tempDir("kiln-sign-");
  const pki = await mintPki(dir.path);
  const sig = await sign(pki, FFT, { chain: [pki.root.certPem], key: pki.root.keyPem });
  await refused(verifyModule(FFT, sig, context(trustOf(pki))), "unknown_signer", "is a trusted root itself");
});
