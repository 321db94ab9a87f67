/**
 * Supply-chain attacks on a gateway whose manifest requires signed modules: each forged, tampered, stale or
 * over-reaching module is refused at deploy (or at start) with its reason named in the error and in the
 * audit log, while a signed neighbour keeps running. The PKIs are minted with Debian's openssl.
 */
import assert from "node:assert/strict";
import { createRuntime, type ModulePlan, type Runtime, type SignaturesPlan } from "../../runtime/mod.ts";
import { AuditLog, openStore } from "../../snapshots/mod.ts";
import { SignatureError, type SignatureReason } from "../../signing/mod.ts";
import { attestation, editBundle, sign } from "../signing/_fixture.ts";
import { crl, mintPki, revoke, tempDir, type TestPki, window } from "../signing/_pki.ts";
import { deploymentPlan, modulePlan, waitFor, wat } from "../_helpers.ts";

/** A periodic module that counts its ticks in memory and outputs the count; `tag` makes binaries differ. */
const counter = (tag: number) =>
  wat(`(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "count")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))
    (drop (call $output (i32.const 16) (i32.const 5) (f64.add (f64.const ${
    tag / 1e6
  }) (f64.convert_i32_u (i32.load (i32.const 64))))))
    (i32.const 0)))`);

/** The gateway under test: its PKIs, its runtime, its audit log. */
interface Gateway {
  dir: string;
  pki: TestPki;
  /** Trusted too: certificates of it expired, or not yet valid, or revoked. */
  expiredDev: TestPki;
  expiredInt: TestPki;
  futureDev: TestPki;
  revokedDev: TestPki;
  /** Not trusted. */
  rogue: TestPki;
  policy: SignaturesPlan;
}

const HARDWARE = "arm64";

async function mintGateway(dir: string): Promise<Gateway> {
  const pki = await mintPki(`${dir}/plant`, { name: "Plant" });
  const since = { root: window(-20, 3650), intermediate: window(-20, 1825) };
  const expiredDev = await mintPki(`${dir}/expired-dev`, {
    name: "Old",
    ...since,
    developerWindow: window(-20, -1),
  });
  const expiredInt = await mintPki(`${dir}/expired-int`, {
    name: "Lapsed",
    root: window(-20, 3650),
    intermediate: window(-20, -1),
    developerWindow: window(-20, 365),
  });
  const futureDev = await mintPki(`${dir}/future-dev`, { name: "Early", developerWindow: window(2, 30) });
  const revokedDev = await mintPki(`${dir}/revoked`, { name: "Revoking" });
  const crls = [
    await writeText(
      `${dir}/revoked/intermediate.crl`,
      await revoke(revokedDev.intermediate, revokedDev.developer.certPath),
    ),
    await writeText(`${dir}/revoked/root.crl`, await crl(revokedDev.root)),
  ];
  const rogue = await mintPki(`${dir}/rogue`, { name: "Rogue" });
  return {
    dir,
    pki,
    expiredDev,
    expiredInt,
    futureDev,
    revokedDev,
    rogue,
    policy: {
      mode: "required",
      trustedRoots: [pki, expiredDev, expiredInt, futureDev, revokedDev].map((p) => p.root.certPath),
      crls,
      requireCrls: false,
      allowDowngrade: false,
    },
  };
}

async function writeText(path: string, text: string): Promise<string> {
  await Deno.writeTextFile(path, text);
  return path;
}

/** Writes `wasm` (and its bundle, unless null) for module `name`; returns its plan. */
async function files(
  g: Gateway,
  name: string,
  wasm: Uint8Array,
  bundle: string | null,
  over: Partial<ModulePlan> = {},
) {
  const dir = `${g.dir}/modules/${name}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/${name}.wasm`, wasm);
  if (bundle !== null) await Deno.writeTextFile(`${dir}/${name}.wasm.sig`, bundle);
  return modulePlan({
    name,
    wasm: `${dir}/${name}.wasm`,
    schedule: { mode: "periodic", periodUs: 20_000, priority: 50 },
    capabilities: [],
    ...over,
  });
}

/** A signed module: `pki` signs `wasm` as `signedAs` with the catalog `catalog`. */
const signed = (
  pki: TestPki,
  wasm: Uint8Array,
  signedAs: string,
  catalog: Parameters<typeof attestation>[0] = {},
  now?: Date,
) =>
  sign(pki, wasm, {
    name: signedAs,
    attestation: attestation({ capabilities: [], hardware: [HARDWARE], max_memory_mb: 4, ...catalog }),
    ...(now ? { now } : {}),
  });

Deno.test("a gateway that requires signatures refuses every supply-chain attack, names the reason and audits it", async (t) => {
  await using tmp = await tempDir("kiln-supply-");
  const g = await mintGateway(tmp.path);
  using store = openStore(`${tmp.path}/kiln.db`);
  const audit = new AuditLog(store);
  const neighbour = await files(g, "neighbour", counter(1), await signed(g.pki, counter(1), "neighbour"));
  const plan = deploymentPlan([neighbour]);
  await using rt = await createRuntime({
    plan: { ...plan, device: { ...plan.device, hardware: HARDWARE }, signatures: g.policy },
    version: "0.1.0",
    audit,
    log: () => {},
  });
  await rt.start();
  await waitFor("the neighbour counting", () => (rt.getModule("neighbour")!.outputs.count ?? 0) > 3);
  assert.equal(rt.getModule("neighbour")!.signature?.version, "1.2.0");
  assert.match(rt.getModule("neighbour")!.signature!.signer.fingerprint, /^SHA256:[0-9a-f]{64}$/);

  let cases = 0;
  /** Deploys `plan` and asserts it is refused for `reason`, audited, and the neighbour unharmed. */
  async function refused(name: string, p: ModulePlan, reason: SignatureReason, ...patterns: RegExp[]) {
    await t.step(name, async () => {
      cases++;
      const err = await rt.replaceModule(p).then(() => null, (e) => e);
      assert.ok(err instanceof SignatureError, `expected a refusal (${reason}), got ${err}`);
      assert.equal(err.reason, reason, err.message);
      assert.equal(err.code, "signature_invalid");
      for (const pattern of patterns) assert.match(err.message, pattern);
      assert.equal(rt.getModule(p.name), null, "nothing of it runs");
      const row = audit.listEvents({ module: p.name, kind: "signature", limit: 1000 }).at(-1);
      assert.equal(row?.capability, `refused: ${reason}`);
      assert.equal(row?.detail, err.message);
      await assertNeighbourRuns(rt);
    });
  }

  const wasm = counter(2);
  const good = await signed(g.pki, wasm, "victim");
  const tampered = wasm.slice();
  tampered[tampered.length - 2]! ^= 1;
  await refused("a tampered byte", await files(g, "victim", tampered, good), "digest_mismatch", /SHA-256/);
  await refused("a stripped signature", await files(g, "victim", wasm, null), "unsigned");
  await refused(
    "another module's signature",
    await files(g, "victim", wasm, await signed(g.pki, wasm, "other")),
    "wrong_subject",
    /"other"/,
  );
  const byRogue = await signed(g.rogue, wasm, "victim");
  await refused(
    "a key not in the chain",
    await files(
      g,
      "victim",
      wasm,
      editBundle(byRogue, (b) => b.certificate_chain = [g.pki.developer.certPem, g.pki.intermediate.certPem]),
    ),
    "unknown_signer",
  );
  await refused(
    "a chain to an untrusted root",
    await files(g, "victim", wasm, byRogue),
    "untrusted_root",
    /Rogue/,
  );
  const past = new Date(Date.now() - 5 * 86_400_000);
  await refused(
    "an expired signing certificate",
    await files(g, "victim", wasm, await signed(g.expiredDev, wasm, "victim", {}, past)),
    "expired",
    /signing certificate/,
  );
  await refused(
    "an expired intermediate",
    await files(
      g,
      "victim",
      wasm,
      await signed(g.expiredInt, wasm, "victim", {}, new Date(Date.now() - 10 * 86_400_000)),
    ),
    "expired",
    /intermediate certificate/,
  );
  await refused(
    "a signing certificate not yet valid",
    await files(
      g,
      "victim",
      wasm,
      await signed(g.futureDev, wasm, "victim", {}, new Date(Date.now() + 3 * 86_400_000)),
    ),
    "not_yet_valid",
  );
  await refused(
    "a revoked signing certificate",
    await files(g, "victim", wasm, await signed(g.revokedDev, wasm, "victim")),
    "revoked",
    /CN=Jane Doe/,
  );
  await refused(
    "an attestation narrower than the manifest's capabilities",
    await files(g, "victim", wasm, good, { capabilities: ["read:sim:vib"] }),
    "attestation_narrower",
    /read:sim:vib/,
  );
  await refused(
    "an attestation narrower than the manifest's memory",
    await files(g, "victim", wasm, good, { maxMemoryMb: 8 }),
    "attestation_narrower",
  );
  await refused(
    "the wrong hardware",
    await files(g, "victim", wasm, await signed(g.pki, wasm, "victim", { hardware: ["riscv64"] })),
    "wrong_hardware",
    /arm64/,
  );
  await refused(
    "a runtime too old",
    await files(g, "victim", wasm, await signed(g.pki, wasm, "victim", { min_runtime_version: "99.0.0" })),
    "runtime_too_old",
    /99\.0\.0/,
  );
  await refused(
    "a bundle of bad base64",
    await files(g, "victim", wasm, editBundle(good, (b) => b.dsse_envelope.payload = "%%%not base64%%%")),
    "malformed",
  );
  await refused("a bundle of bad JSON", await files(g, "victim", wasm, good.slice(0, -7)), "malformed");
  await refused(
    "a huge payload",
    await files(g, "victim", wasm, editBundle(good, (b) => b.dsse_envelope.payload = "A".repeat(400_000))),
    "malformed",
  );

  await t.step("a downgrade, refused at deploy and taken by a rollback", async () => {
    cases++;
    const v2 = counter(3);
    await rt.replaceModule(
      await files(g, "versioned", v2, await signed(g.pki, v2, "versioned", { version: "2.0.0" })),
    );
    assert.equal(rt.getModule("versioned")!.signature?.version, "2.0.0");
    const v1 = counter(4);
    const older = await files(g, "versioned", v1, await signed(g.pki, v1, "versioned", { version: "1.0.0" }));
    const err = await rt.replaceModule(older).then(() => null, (e) => e);
    assert.ok(err instanceof SignatureError && err.reason === "downgrade", `${err}`);
    assert.equal(rt.getModule("versioned")!.signature?.version, "2.0.0", "2.0.0 keeps running");
    const row = audit.listEvents({ module: "versioned", kind: "signature", limit: 1000 }).at(-1);
    assert.equal(row?.capability, "refused: downgrade");
    await rt.replaceModule(older, { rollback: true });
    assert.equal(rt.getModule("versioned")!.signature?.version, "1.0.0");
    await assertNeighbourRuns(rt);
  });

  assert.ok(cases >= 15, `${cases} cases`);
  const verified = audit.listEvents({ kind: "signature", limit: 1000 }).filter((e) =>
    e.capability === "verified"
  );
  assert.ok(
    verified.some((e) => e.module === "neighbour" && /signer "CN=Jane Doe" SHA256:/.test(e.detail ?? "")),
  );
});

Deno.test("a binary swapped in place between restarts is refused at start while the other modules run", async () => {
  await using tmp = await tempDir("kiln-supply-");
  const g = await mintGateway(tmp.path);
  using store = openStore(`${tmp.path}/kiln.db`);
  const audit = new AuditLog(store);
  const neighbour = await files(g, "neighbour", counter(1), await signed(g.pki, counter(1), "neighbour"));
  const victim = await files(g, "victim", counter(2), await signed(g.pki, counter(2), "victim"));
  const plan = deploymentPlan([neighbour, victim]);
  const gatewayPlan = { ...plan, device: { ...plan.device, hardware: HARDWARE }, signatures: g.policy };
  {
    await using rt = await createRuntime({ plan: gatewayPlan, version: "0.1.0", audit, log: () => {} });
    await rt.start();
    assert.equal(rt.getModule("victim")?.state, "running");
  }
  // Between two starts, someone with write access to the module folder swaps the binary.
  await Deno.writeFile(victim.wasm, counter(666));
  const lines: string[] = [];
  await using rt = await createRuntime({
    plan: gatewayPlan,
    version: "0.1.0",
    audit,
    log: (l) => lines.push(typeof l === "string" ? l : l.message),
  });
  await rt.start();
  assert.equal(rt.getModule("victim"), null, "the swapped module does not run");
  assert.ok(
    lines.some((l) => /module victim refused at start, not run: .*digest_mismatch/.test(l)),
    lines.join("\n"),
  );
  const row = audit.listEvents({ module: "victim", kind: "signature", limit: 1000 }).at(-1);
  assert.equal(row?.capability, "refused: digest_mismatch");
  await assertNeighbourRuns(rt);
});

/** The signed neighbour is running and its count still rises. */
async function assertNeighbourRuns(rt: Runtime): Promise<void> {
  const before = rt.getModule("neighbour")!.invocations;
  await waitFor("the neighbour ticking", () => rt.getModule("neighbour")!.invocations > before + 1);
  assert.equal(rt.getModule("neighbour")!.state, "running");
}
