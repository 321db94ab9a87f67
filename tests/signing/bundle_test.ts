/**
 * Reading signature bundles: every malformed or oversized input is refused as `malformed` with the field
 * named, and the DSSE pre-authentication encoding matches the specification's example. And `signing/`
 * stays self-contained.
 */
import assert from "node:assert/strict";
import {
  importSigningKey,
  IN_TOTO_PAYLOAD_TYPE,
  MAX_BUNDLE_BYTES,
  MAX_CHAIN_LENGTH,
  MAX_PAYLOAD_BYTES,
  pae,
  signEnvelope,
  verifyModule,
} from "../../signing/mod.ts";
import { importGraph } from "../_import_graph.ts";
import { context, editBundle, FFT, refused, sign, trustOf } from "./_fixture.ts";
import { mintPki, tempDir, type TestPki } from "./_pki.ts";

Deno.test("the pre-authentication encoding is the one of DSSE's protocol.md example", () => {
  const out = new TextDecoder().decode(
    pae("http://example.com/HelloWorld", new TextEncoder().encode("hello world")),
  );
  assert.equal(out, "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  // Lengths count bytes, not characters.
  assert.equal(new TextDecoder().decode(pae("t", new TextEncoder().encode("é"))), "DSSEv1 1 t 2 é");
});

/** A valid bundle and a way to check that an edit of it is refused as malformed. */
async function setup(dir: string): Promise<{ pki: TestPki; good: string }> {
  const pki = await mintPki(dir);
  return { pki, good: await sign(pki, FFT) };
}

Deno.test("a malformed bundle is refused as malformed, naming what is wrong", async (t) => {
  await using dir = await tempDir("kiln-bundle-");
  const { pki, good } = await setup(dir.path);
  const trust = trustOf(pki);
  const cases: [string, string | Uint8Array, RegExp][] = [
    ["bad JSON", good.slice(0, -20), /the bundle is not JSON/],
    ["not UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /not UTF-8/],
    ["JSON that is not an object", "[1, 2]", /bundle: /],
    [
      "an unknown media type",
      editBundle(good, (b) => b.media_type = "application/json"),
      /bundle\.media_type: /,
    ],
    [
      "bad base64 in the payload",
      editBundle(good, (b) => b.dsse_envelope.payload = "not*base64!"),
      /bundle\.dsse_envelope\.payload is not base64/,
    ],
    [
      "base64 of an impossible length",
      editBundle(good, (b) => b.dsse_envelope.payload = "QUJDR"),
      /payload is not base64/,
    ],
    [
      "an envelope with no signatures",
      editBundle(good, (b) => b.dsse_envelope.signatures = []),
      /bundle\.dsse_envelope\.signatures: the envelope has no signature/,
    ],
    [
      "a wrong payloadType",
      editBundle(good, (b) => b.dsse_envelope.payloadType = "application/vnd.evil+json"),
      /payloadType is "application\/vnd\.evil\+json", expected "application\/vnd\.in-toto\+json"/,
    ],
    [
      "a signature that is not 64 bytes",
      editBundle(good, (b) => b.dsse_envelope.signatures[0].sig = btoa("short")),
      /signatures\[0\]\.sig is not base64 of a 64-byte Ed25519 signature/,
    ],
    [
      "no certificate",
      editBundle(good, (b) => b.certificate_chain = []),
      /bundle\.certificate_chain: no certificate/,
    ],
    [
      "a certificate that is not one",
      editBundle(
        good,
        (b) => b.certificate_chain[0] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      ),
      /certificate_chain\[0\]": not an X\.509 certificate/,
    ],
    [
      `a chain longer than ${MAX_CHAIN_LENGTH}`,
      editBundle(good, (b) => b.certificate_chain = Array(MAX_CHAIN_LENGTH + 1).fill(b.certificate_chain[0])),
      /bundle\.certificate_chain: /,
    ],
    [
      "an unknown field",
      editBundle(good, (b) => b.extra = true),
      /bundle: .*extra/,
    ],
  ];
  for (const [what, bundle, pattern] of cases) {
    await t.step(what, async () => {
      await refused(verifyModule(FFT, bundle, context(trust)), "malformed", pattern);
    });
  }
});

Deno.test("oversized bundles and payloads are refused as malformed before any signature work", async (t) => {
  await using dir = await tempDir("kiln-bundle-");
  const { pki, good } = await setup(dir.path);
  const trust = trustOf(pki);
  await t.step("a bundle over 1 MiB", async () => {
    const huge = editBundle(good, (b) => b.padding = "x".repeat(MAX_BUNDLE_BYTES));
    await refused(
      verifyModule(FFT, huge, context(trust)),
      "malformed",
      `over the ${MAX_BUNDLE_BYTES} allowed`,
    );
    await refused(
      verifyModule(FFT, new TextEncoder().encode(huge), context(trust)),
      "malformed",
      `over the ${MAX_BUNDLE_BYTES} allowed`,
    );
  });
  await t.step("a payload over 256 KiB once decoded, in a bundle under 1 MiB", async () => {
    const payload = btoa("x".repeat(MAX_PAYLOAD_BYTES + 3));
    const huge = editBundle(good, (b) => b.dsse_envelope.payload = payload);
    assert.ok(huge.length < MAX_BUNDLE_BYTES);
    await refused(
      verifyModule(FFT, huge, context(trust)),
      "malformed",
      "bundle.dsse_envelope.payload",
      "262144",
    );
  });
  await t.step("a huge base64 signature", async () => {
    const huge = editBundle(good, (b) => b.dsse_envelope.signatures[0].sig = "A".repeat(100_000));
    await refused(verifyModule(FFT, huge, context(trust)), "malformed", "signatures[0].sig");
  });
});

Deno.test("a signed payload that is not a valid statement is refused as malformed with its path", async (t) => {
  await using dir = await tempDir("kiln-bundle-");
  const { pki, good } = await setup(dir.path);
  const key = await importSigningKey(pki.developer.keyPem);
  const keyid = JSON.parse(good).dsse_envelope.signatures[0].keyid as string;
  const signed = async (payload: string) => {
    const envelope = await signEnvelope(new TextEncoder().encode(payload), { privateKey: key, keyid });
    return editBundle(good, (b) => b.dsse_envelope = envelope);
  };
  const statement = JSON.parse(atob(JSON.parse(good).dsse_envelope.payload));
  await t.step("not JSON", async () => {
    await refused(
      verifyModule(FFT, await signed("{nope"), context(trustOf(pki))),
      "malformed",
      "signed payload is not JSON",
    );
  });
  await t.step("another predicate type", async () => {
    const other = { ...statement, predicateType: "https://slsa.dev/provenance/v1" };
    await refused(
      verifyModule(FFT, await signed(JSON.stringify(other)), context(trustOf(pki))),
      "malformed",
      "payload.predicateType",
    );
  });
  await t.step("a capability that is not operation:type:resource", async () => {
    const other = structuredClone(statement);
    other.predicate.catalog.capabilities[1] = "everything";
    await refused(
      verifyModule(FFT, await signed(JSON.stringify(other)), context(trustOf(pki))),
      "malformed",
      "payload.predicate.catalog.capabilities[1]",
    );
  });
  await t.step("a version that is not semver", async () => {
    const other = structuredClone(statement);
    other.predicate.catalog.version = "v2";
    await refused(
      verifyModule(FFT, await signed(JSON.stringify(other)), context(trustOf(pki))),
      "malformed",
      "payload.predicate.catalog.version: expected a semantic version",
    );
  });
  assert.equal(IN_TOTO_PAYLOAD_TYPE, JSON.parse(good).dsse_envelope.payloadType);
});

Deno.test("signing/ imports nothing of Kiln but errors.ts, like hal/ and snapshots/", async () => {
  const graph = await importGraph(new URL("../../", import.meta.url));
  const files = [...graph.keys()].filter((f) => f.startsWith("signing/"));
  assert.ok(files.includes("signing/verify.ts"), `the walk found ${files.join(", ")}`);
  assert.ok(graph.get("signing/errors.ts")?.includes("errors.ts"), "the walk follows signing/'s imports");
  const outside = files.flatMap((f) =>
    graph.get(f)!.filter((dep) => !dep.startsWith("signing/") && dep !== "errors.ts").map((dep) =>
      `${f} -> ${dep}`
    )
  );
  assert.deepEqual(outside, []);
});
