/** `kiln fleet` commands on the store: create, status, pause, resume, approve, abort, and their refusals. */
import assert from "node:assert/strict";
import { runKiln } from "../_process.ts";
import { FleetStore } from "../../fleet/mod.ts";

const IMAGE = `127.0.0.1:5000/plant/counter:1.0.0@sha256:${"a".repeat(64)}`;

Deno.test("kiln fleet creates a rollout and pauses, resumes and aborts it, refusing what its state forbids", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-fleet-cli-" });
  try {
    await Deno.writeTextFile(`${dir}/spec.yaml`, "schedule: { mode: periodic, period_us: 20000 }\n");
    const base = ["fleet", "rollout", "create", "--data", dir, "--fleet", "plant-a", "--module", "counter"];
    /** `kiln fleet rollout create` of `image` in `phases`, with more flags. */
    const create = (image: string, phases: string, ...more: string[]) =>
      runKiln([...base, "--image", image, "--spec", `${dir}/spec.yaml`, "--phases", phases, ...more], {
        timeoutMs: 60_000,
      });
    const bad = await create(IMAGE, "10%,100%", "--condition", "crashes >");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /character 10: expected an identifier, a number/);
    const unpinned = await create("127.0.0.1:5000/plant/counter:1.0.0", "100%");
    assert.equal(unpinned.code, 1);
    assert.match(unpinned.stderr, /pinned/);

    const soon = await create(IMAGE, "100%", "--offline-grace", "soon");
    assert.notEqual(soon.code, 0);
    assert.match(soon.stderr, /--offline-grace soon: seconds \(e\.g\. 600\) or "wait"/);

    const created = await create(
      IMAGE,
      "1:60s,100%:60s:approve",
      "--target-hardware",
      "arm64",
      "--offline-grace",
      "120s",
    );
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    assert.equal((await runKiln(["fleet", "approve", id, "--data", dir], { timeoutMs: 60_000 })).code, 1);
    assert.equal((await runKiln(["fleet", "pause", id, "--data", dir], { timeoutMs: 60_000 })).code, 0);
    const status = await runKiln(["fleet", "status", "--data", dir], { timeoutMs: 60_000 });
    assert.match(status.stdout, /state: paused, phase 1\/2/);
    assert.equal((await runKiln(["fleet", "resume", id, "--data", dir], { timeoutMs: 60_000 })).code, 0);
    assert.equal((await runKiln(["fleet", "abort", id, "--data", dir], { timeoutMs: 60_000 })).code, 0);
    assert.equal((await runKiln(["fleet", "abort", "nope", "--data", dir], { timeoutMs: 60_000 })).code, 1);
    using store = FleetStore.open(dir);
    const r = store.getRollout(id)!;
    assert.equal(r.state, "aborted");
    assert.deepEqual(r.target, { groups: [], hardware: ["arm64"] });
    assert.equal(r.phases[1]?.approval, true);
    assert.equal(r.offline_grace_s, 120);
    assert.equal((await runKiln(["fleet", "frobnicate"], { timeoutMs: 60_000 })).code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
