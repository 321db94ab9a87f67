/**
 * Fleet control over MQTT, end to end: a real Mosquitto, a real Distribution registry, signed modules pushed
 * to it, and a sandboxed `kiln run` with a `fleet` section. The test is the controller: it publishes desired
 * states retained (the `mqtt` package) and reads the gateway's retained reported state.
 */
import assert from "node:assert/strict";
import { getJson } from "../_process.ts";
import { attestation, sign } from "../signing/_fixture.ts";
import { counterWasm, moduleStatus, startGateway } from "../lifecycle/_gateway.ts";
import { pushModule, RegistryClient } from "../../registry/mod.ts";
import { connectController, fleetPeers } from "./_fleet.ts";
import type { TestPki } from "../signing/_pki.ts";

const catalog = (version: string) =>
  attestation({ version, capabilities: [], hardware: ["arm64"], max_memory_mb: 1 });
const SPEC = { schedule: { mode: "periodic", period_us: 20000 }, limits: { max_memory_mb: 1 } };
const FLEET = "plant-a";
const DEVICE = "gw-fleet";
const DESIRED = `kiln/fleet/${FLEET}/${DEVICE}/desired`;
const GROUP = `kiln/fleet/${FLEET}/groups/line-3/desired`;
const REPORTED = `kiln/fleet/${FLEET}/${DEVICE}/reported`;

Deno.test("a gateway converges to its fleet's desired states: it applies a retained one at start, replaces a version, refuses an unsigned image, an unlisted registry and a malformed document while the running version stays, and removes the fleet's module on null", async () => {
  await using peers = await fleetPeers("kiln-fleet-");
  const { dir, broker, host } = peers;

  const images = new Map<string, string>();
  images.set("1.0.0", await pushCounter(peers, "1.0.0", 1, "1.0.0"));
  images.set("2.0.0", await pushCounter(peers, "2.0.0", 2, "2.0.0"));
  images.set("unsigned", await pushCounter(peers, "unsigned", 3, null));
  await writeFleetManifest(peers, "optional", " groups: [line-3],");

  await using controller = await connectController(broker.url, REPORTED);
  // (1) Retained before the gateway starts: its group asks for 1.0.0, its own document names nothing.
  await controller.publish(GROUP, {
    rev: 10,
    modules: { counter: { image: images.get("1.0.0"), spec: SPEC } },
  });
  await controller.publish(DESIRED, { rev: 1, modules: {} });

  await using kiln = await startGateway(`${dir}/kiln.yaml`, `${dir}/data`, true);
  let r = await controller.until(
    "counter 1.0.0 running with figures",
    (r) =>
      r.modules.counter?.version === "1.0.0" && r.modules.counter.state === "running" &&
      r.modules.counter.figures.invocations > 0,
  );
  assert.equal(r.modules.counter!.source, "fleet");
  assert.equal(r.modules.counter!.image, images.get("1.0.0"));
  assert.equal(r.modules.local?.source, "manifest");
  assert.equal(r.modules.local?.version, null, "an unsigned manifest module under signatures: optional");
  assert.equal(r.rev_applied, 1);
  assert.deepEqual(r.group_revs["line-3"], { applied: 10, seen: 10 });
  assert.equal(r.hardware, "arm64");
  assert.deepEqual(r.groups, ["line-3"]);
  assert.equal(r.errors.length, 0, JSON.stringify(r.errors));
  assert.equal(typeof r.modules.counter!.figures.p99_us, "number");
  const deployments = await getJson<{ deployments: { module: string; by: string }[] }>(
    `${kiln.base}/api/v1/deployments?module=counter`,
  );
  assert.ok(deployments.deployments.some((d) => d.by === "fleet"), JSON.stringify(deployments));

  // (2) The device's own document wins over its group's: 2.0.0 replaces 1.0.0.
  await controller.publish(DESIRED, {
    rev: 2,
    modules: { counter: { image: images.get("2.0.0"), spec: SPEC } },
  });
  r = await controller.until(
    "counter 2.0.0 running",
    (r) =>
      r.rev_applied === 2 && r.modules.counter?.version === "2.0.0" && r.modules.counter.state === "running",
  );
  const v2 = r.modules.counter!.sha256;

  // (3) An unsigned image is refused (signatures: optional does not matter) and 2.0.0 stays.
  await controller.publish(DESIRED, {
    rev: 3,
    modules: { counter: { image: images.get("unsigned"), spec: SPEC } },
  });
  r = await controller.until(
    "the unsigned image refused",
    (r) => r.errors.some((e) => e.module === "counter" && e.rev === 3 && e.code === "image_unsigned"),
  );
  assert.equal(r.rev_seen, 3);
  assert.equal(r.rev_applied, 2);
  assert.equal(r.modules.counter?.version, "2.0.0");
  assert.equal(r.modules.counter?.sha256, v2);
  assert.equal((await moduleStatus(kiln.base, "counter"))?.sha256, v2, "the running version stays");

  // (4) A registry the manifest does not list is refused before any connection to it.
  const foreign = images.get("1.0.0")!.replace(host, "registry.example.com");
  await controller.publish(DESIRED, { rev: 4, modules: { counter: { image: foreign, spec: SPEC } } });
  r = await controller.until(
    "the unlisted registry refused",
    (r) => r.errors.some((e) => e.module === "counter" && e.rev === 4 && e.code === "registry_untrusted"),
  );
  assert.match(r.errors.find((e) => e.rev === 4)!.message, /registry\.example\.com/);
  assert.equal(r.modules.counter?.sha256, v2);

  // (6) A malformed document is reported, naming the path; what runs is untouched.
  await controller.publish(DESIRED, { rev: "five", modules: { counter: { image: 42 } } });
  r = await controller.until(
    "the malformed document reported",
    (r) => r.errors.some((e) => e.code === "desired_invalid" && e.module === null),
  );
  const invalid = r.errors.find((e) => e.code === "desired_invalid")!;
  assert.match(invalid.message, /rev: /);
  assert.match(invalid.message, /modules\.counter\.image/);
  assert.match(invalid.message, new RegExp(DESIRED));
  assert.equal(r.modules.counter?.sha256, v2);
  assert.equal((await moduleStatus(kiln.base, "counter"))?.state, "running");

  // (5) null removes the fleet's module; a manifest module is never removed by the fleet.
  await controller.publish(DESIRED, { rev: 6, modules: { counter: null, local: null } });
  r = await controller.until(
    "counter removed",
    (r) => r.rev_applied === 6 && r.modules.counter === undefined,
  );
  assert.equal(r.modules.local?.source, "manifest");
  assert.equal(r.errors.length, 0, JSON.stringify(r.errors));
  assert.equal(await moduleStatus(kiln.base, "counter"), null);
  assert.equal((await moduleStatus(kiln.base, "local"))?.state, "running");
  assert.match(kiln.output(), /fleet: removed counter \(rev 6\)/);
});

Deno.test("a gateway that was stopped converges to the desired state published meanwhile, and after a restart with nothing new keeps its fleet module without deploying it again", async () => {
  await using peers = await fleetPeers("kiln-fleet-restart-");
  const { dir, pki, broker } = peers;
  const images = new Map<string, string>();
  images.set("1.0.0", await pushCounter(peers, "1.0.0", 1, "1.0.0"));
  images.set("2.0.0", await pushCounter(peers, "2.0.0", 2, "2.0.0"));
  await writeFleetManifest(peers, "required", "");
  await Deno.writeTextFile(
    `${dir}/local.wasm.sig`,
    await sign(pki, counterWasm(5), { name: "local", attestation: catalog("1.0.0") }),
  );
  await using controller = await connectController(broker.url, REPORTED);
  const fleetDeploys = async (base: string) =>
    (await getJson<{ deployments: { by: string }[] }>(`${base}/api/v1/deployments?module=counter`))
      .deployments.filter((d) => d.by === "fleet").length;

  await controller.publish(DESIRED, {
    rev: 1,
    modules: { counter: { image: images.get("1.0.0"), spec: SPEC } },
  });
  {
    await using kiln = await startGateway(`${dir}/kiln.yaml`, `${dir}/data`, true);
    await controller.until(
      "1.0.0 applied",
      (r) => r.rev_applied === 1 && r.modules.counter?.version === "1.0.0",
    );
    assert.equal(await kiln.stop(), 0);
  }
  // Offline: the controller moves it on.
  await controller.publish(DESIRED, {
    rev: 2,
    modules: { counter: { image: images.get("2.0.0"), spec: SPEC } },
  });
  let deploys: number;
  {
    await using kiln = await startGateway(`${dir}/kiln.yaml`, `${dir}/data`, true);
    const r = await controller.until(
      "2.0.0 applied after the restart",
      (r) =>
        r.rev_applied === 2 && r.modules.counter?.version === "2.0.0" &&
        r.modules.counter.state === "running",
    );
    assert.equal(r.modules.counter!.source, "fleet");
    deploys = await fleetDeploys(kiln.base);
    assert.equal(deploys, 2);
    assert.equal(await kiln.stop(), 0);
  }
  const restarted = new Date().toISOString();
  {
    await using kiln = await startGateway(`${dir}/kiln.yaml`, `${dir}/data`, true);
    const r = await controller.until(
      "2.0.0 still applied, reported by the restarted gateway",
      (r) =>
        r.at > restarted &&
        r.rev_applied === 2 && r.modules.counter?.version === "2.0.0" &&
        r.modules.counter.state === "running" &&
        r.modules.counter.figures.invocations > 0,
    );
    assert.equal(r.modules.counter!.image, images.get("2.0.0"), "the fleet knows its module across restarts");
    assert.equal(await fleetDeploys(kiln.base), deploys, "nothing new: no deploy");
  }
});

/** Pushes the counter of `step` as `plant/counter:<tag>`, signed as `version` (unsigned when null); its pinned ref. */
async function pushCounter(
  peers: { pki: TestPki; host: string },
  tag: string,
  step: number,
  version: string | null,
): Promise<string> {
  using client = new RegistryClient(peers.host, { plainHttp: true });
  const wasm = counterWasm(step);
  const signature = version === null ? null : new TextEncoder().encode(
    await sign(peers.pki, wasm, { name: "counter", attestation: catalog(version) }),
  );
  const pushed = await pushModule(client, { repository: "plant/counter", tag }, {
    wasm,
    fileName: "counter.wasm",
    signature,
  });
  return `${peers.host}/plant/counter:${tag}@${pushed.digest}`;
}

/** Writes the gateway's manifest (a local counter, the fleet section) into the peers' folder. */
async function writeFleetManifest(
  peers: { dir: string; host: string; broker: { port: number } },
  mode: "optional" | "required",
  groups: string,
): Promise<void> {
  await Deno.writeFile(`${peers.dir}/local.wasm`, counterWasm(5));
  await Deno.writeTextFile(
    `${peers.dir}/kiln.yaml`,
    `version: 1
device: { id: ${DEVICE}, hardware: arm64 }
policy: { allow: ["read:sim:*"] }
signatures: { mode: ${mode}, trusted_roots: [pki/root/root.pem] }
connectors:
  mqtt: { url: "mqtt://127.0.0.1:${peers.broker.port}", batch_interval_s: 0 }
registries:
  "${peers.host}": { plain_http: true }
fleet: { id: ${FLEET},${groups} report_every_s: 1 }
modules:
  local:
    wasm: local.wasm
    schedule: { mode: periodic, period_us: 20000 }
    limits: { max_memory_mb: 1 }
`,
  );
}
