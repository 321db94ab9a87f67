/**
 * The signed catalog facts against the gateway and the manifest: hardware, runtime version, capabilities
 * and memory ("covers"), downgrades; and what `signModule` refuses to sign.
 */
import assert from "node:assert/strict";
import { covers as capabilityCovers, parseCapability } from "../../runtime/capabilities.ts";
import { SigningError, signModule, verifyModule } from "../../signing/mod.ts";
import { attestation, context, FFT, refused, sign, trustOf } from "./_fixture.ts";
import { mintPki, tempDir } from "./_pki.ts";

const runtimeCovers = (attested: string, granted: string) =>
  capabilityCovers(parseCapability(attested), parseCapability(granted));

Deno.test("a gateway whose hardware tag is not attested is refused as wrong_hardware", async () => {
  await using dir = await tempDir("kiln-catalog-");
  const pki = await mintPki(dir.path);
  const sig = await sign(pki, FFT);
  await refused(
    verifyModule(
      FFT,
      sig,
      context(trustOf(pki), { gateway: { hardware: "riscv64", runtimeVersion: "0.1.0" } }),
    ),
    "wrong_hardware",
    'this gateway is "riscv64"',
    '"arm64", "x86_64"',
  );
});

Deno.test("a runtime older than the attested minimum is refused as runtime_too_old", async () => {
  await using dir = await tempDir("kiln-catalog-");
  const pki = await mintPki(dir.path);
  const sig = await sign(pki, FFT, { attestation: attestation({ min_runtime_version: "0.10.0" }) });
  await refused(
    verifyModule(
      FFT,
      sig,
      context(trustOf(pki), { gateway: { hardware: "arm64", runtimeVersion: "0.9.3" } }),
    ),
    "runtime_too_old",
    "this runtime is 0.9.3",
    "min_runtime_version is 0.10.0",
  );
  // Semver precedence, not string order: 0.10.0 is newer than 0.9.3.
  await verifyModule(
    FFT,
    sig,
    context(trustOf(pki), { gateway: { hardware: "arm64", runtimeVersion: "0.10.0" } }),
  );
});

Deno.test("an attestation narrower than the manifest is refused as attestation_narrower", async (t) => {
  await using dir = await tempDir("kiln-catalog-");
  const pki = await mintPki(dir.path);
  const sig = await sign(pki, FFT);
  await t.step("a granted capability the attestation lacks", async () => {
    const required = { capabilities: ["read:sim:vibration_1", "write:gpio:pin_10"], maxMemoryMb: 4 };
    await refused(
      verifyModule(FFT, sig, context(trustOf(pki), { required })),
      "attestation_narrower",
      'the manifest grants "write:gpio:pin_10"',
    );
  });
  await t.step("more memory than attested", async () => {
    const required = { capabilities: [], maxMemoryMb: 16 };
    await refused(
      verifyModule(FFT, sig, context(trustOf(pki), { required })),
      "attestation_narrower",
      "max_memory_mb 16, over the attestation's catalog.max_memory_mb 8",
    );
  });
  await t.step("a pattern is not covered by default, only by the runtime's rule", async () => {
    const required = { capabilities: ["write:mqtt:plant/line1/alerts"], maxMemoryMb: 8 };
    await refused(
      verifyModule(FFT, sig, context(trustOf(pki), { required })),
      "attestation_narrower",
      '"write:mqtt:plant/line1/alerts"',
    );
    const v = await verifyModule(FFT, sig, context(trustOf(pki), { required, covers: runtimeCovers }));
    assert.equal(v.version, "1.2.0");
  });
  await t.step("a granted pattern wider than the attested resource", async () => {
    const required = { capabilities: ["write:gpio:*"], maxMemoryMb: 4 };
    await refused(
      verifyModule(FFT, sig, context(trustOf(pki), { required, covers: runtimeCovers })),
      "attestation_narrower",
      '"write:gpio:*"',
    );
  });
});

Deno.test("a lower version than the installed one is refused as a downgrade unless allowed", async (t) => {
  await using dir = await tempDir("kiln-catalog-");
  const pki = await mintPki(dir.path);
  const sig = await sign(pki, FFT);
  await t.step("1.2.0 over 1.10.0", async () => {
    await refused(
      verifyModule(FFT, sig, context(trustOf(pki), { installedVersion: "1.10.0" })),
      "downgrade",
      "version 1.2.0 would replace the installed 1.10.0",
    );
  });
  await t.step("a release over its own pre-release is an upgrade; the reverse a downgrade", async () => {
    await verifyModule(FFT, sig, context(trustOf(pki), { installedVersion: "1.2.0-rc.1" }));
    const rc = await sign(pki, FFT, { attestation: attestation({ version: "1.2.0-rc.1" }) });
    await refused(verifyModule(FFT, rc, context(trustOf(pki), { installedVersion: "1.2.0" })), "downgrade");
  });
  await t.step("the same version, a higher one, or an allowed downgrade pass", async () => {
    for (const installed of ["1.2.0", "1.1.9"]) {
      await verifyModule(FFT, sig, context(trustOf(pki), { installedVersion: installed }));
    }
    await verifyModule(FFT, sig, context(trustOf(pki), { installedVersion: "2.0.0", allowDowngrade: true }));
  });
});

Deno.test("signModule refuses an invalid attestation, a key of another certificate and an expired certificate", async (t) => {
  await using dir = await tempDir("kiln-catalog-");
  const pki = await mintPki(dir.path);
  const other = await mintPki(`${dir.path}/other`);
  const base = {
    name: "fft",
    privateKey: pki.developer.keyPem,
    certificateChain: [pki.developer.certPem, pki.intermediate.certPem],
  };
  await t.step("an attestation without a commit, naming the field", async () => {
    const a = attestation() as { build: Record<string, unknown> };
    delete a.build.commit;
    await assert.rejects(signModule(FFT, { ...base, attestation: a }), (err) => {
      assert.ok(err instanceof SigningError);
      assert.match(err.message, /build\.commit/);
      return true;
    });
  });
  await t.step("another developer's key", async () => {
    await assert.rejects(
      signModule(FFT, { ...base, privateKey: other.developer.keyPem, attestation: attestation() }),
      (err) =>
        err instanceof SigningError &&
        /does not belong to the signing certificate "CN=Jane Doe"/.test(err.message),
    );
  });
  await t.step("a signing certificate that is not valid at the signing time", async () => {
    const later = new Date(Date.now() + 400 * 86_400_000);
    await assert.rejects(
      signModule(FFT, { ...base, attestation: attestation(), now: later }),
      (err) => err instanceof SigningError && /"CN=Jane Doe".*not now/.test(err.message),
    );
  });
});
