/**
 * A gateway whose manifest requires signed modules, run as a user runs it (`kiln run`, sandboxed): its
 * manifest module is verified at start; an unsigned deploy is refused naming the reason; a signed deploy runs,
 * shows its signer, keeps its signature as a blob, and runs again, verified, after a SIGKILL and a restart;
 * a lower signed version is refused as a downgrade.
 */
import assert from "node:assert/strict";
import { AUTH, getJson } from "../_process.ts";
import { attestation, sign } from "../signing/_fixture.ts";
import { mintPki, tempDir } from "../signing/_pki.ts";
import { COUNTER_SPEC, counterWasm, countsPast, killHard, moduleStatus, startGateway } from "./_gateway.ts";

const catalog = (version: string) =>
  attestation({ version, capabilities: [], hardware: ["arm64"], max_memory_mb: 1 });

async function deploySigned(base: string, name: string, wasm: Uint8Array, bundle: string | null) {
  const form = new FormData();
  form.set("name", name);
  form.set("spec", COUNTER_SPEC);
  form.set("wasm", new File([wasm as Uint8Array<ArrayBuffer>], `${name}.wasm`));
  if (bundle !== null) form.set("signature", new File([bundle], `${name}.wasm.sig`));
  const res = await fetch(`${base}/api/v1/modules`, { method: "POST", body: form, headers: AUTH });
  return { status: res.status, body: await res.json() };
}

interface Signed {
  sha256: string;
  signature: { version: string; signer: { subject: string; fingerprint: string } } | null;
}

Deno.test("signed modules over the API: unsigned refused, signed kept across a SIGKILL, a lower version refused as a downgrade", async () => {
  await using tmp = await tempDir("kiln-signed-");
  const dir = tmp.path;
  const pki = await mintPki(`${dir}/pki`, { name: "Plant" });
  const base = counterWasm(1);
  await Deno.writeFile(`${dir}/base.wasm`, base);
  await Deno.writeTextFile(
    `${dir}/base.wasm.sig`,
    await sign(pki, base, { name: "base", attestation: catalog("1.0.0") }),
  );
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1
device: { id: gw-signed, hardware: arm64 }
policy: { allow: ["read:sim:*"] }
signatures: { mode: required, trusted_roots: [pki/root/root.pem] }
modules:
  base:
    wasm: base.wasm
    ${COUNTER_SPEC.trim().replaceAll("\n", "\n    ")}
`,
  );
  const manifest = `${dir}/kiln.yaml`;
  const data = `${dir}/data`;
  const v2 = counterWasm(2);
  const v1 = counterWasm(3);
  let fingerprint: string;
  {
    const kiln = await startGateway(manifest, data, true);
    try {
      const b = await getJson<Signed>(`${kiln.base}/api/v1/modules/base`);
      assert.equal(b.signature?.version, "1.0.0", "the manifest's module is verified at start");

      const unsigned = await deploySigned(kiln.base, "extra", v2, null);
      assert.equal(unsigned.status, 422, JSON.stringify(unsigned.body));
      assert.equal(unsigned.body.error.code, "signature_invalid");
      assert.match(unsigned.body.error.message, /refused \(unsigned\)/);

      const ok = await deploySigned(
        kiln.base,
        "extra",
        v2,
        await sign(pki, v2, { name: "extra", attestation: catalog("2.0.0") }),
      );
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      assert.equal(ok.body.signature.version, "2.0.0");
      assert.match(ok.body.signature.signer.subject, /Jane Doe/);
      fingerprint = ok.body.signature.signer.fingerprint;
      await countsPast(kiln.base, "extra", 5);
    } finally {
      await killHard(kiln, data);
    }
  }
  {
    await using kiln = await startGateway(manifest, data, true);
    const extra = await getJson<Signed>(`${kiln.base}/api/v1/modules/extra`);
    assert.equal(extra.signature?.version, "2.0.0", "verified again at the restart, from its stored bundle");
    assert.equal(extra.signature?.signer.fingerprint, fingerprint);

    const older = await deploySigned(
      kiln.base,
      "extra",
      v1,
      await sign(pki, v1, { name: "extra", attestation: catalog("1.5.0") }),
    );
    // Version 2.0.0 runs: a signed 1.5.0 is a downgrade when deployed...
    assert.equal(older.status, 422, JSON.stringify(older.body));
    assert.match(older.body.error.message, /refused \(downgrade\)/);
    assert.equal((await moduleStatus(kiln.base, "extra"))!.sha256, extra.sha256);

    const audit = await getJson<{ events: { module: string; capability: string }[] }>(
      `${kiln.base}/api/v1/audit?kind=signature&module=extra&limit=100`,
    );
    const outcomes = audit.events.map((e) => e.capability);
    assert.ok(
      outcomes.includes("refused: unsigned") && outcomes.includes("refused: downgrade"),
      outcomes.join(),
    );
    assert.ok(outcomes.filter((o) => o === "verified").length >= 2, outcomes.join());
  }
});
