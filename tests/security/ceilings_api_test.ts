/**
 * The device policy's limits over the API (issue #14): a deploy or a replacement over a limit is refused with
 * 422 and the issues list, all or nothing, while the running modules carry on; a replacement does not count
 * as a module more.
 */
import assert from "node:assert/strict";
import { initBudgetUs, type ManifestIssue } from "../../runtime/manifest/mod.ts";
import { waitFor } from "../_helpers.ts";
import { apiGateway, assertSameRows } from "./_ceilings.ts";

const TICK = "schedule: { mode: periodic, period_us: 20000 }\nlimits: { max_memory_mb: 1 }\n";

Deno.test("a deploy over the API over a limit is refused with 422 and the issues list, and nothing changes", async () => {
  await using gw = await apiGateway("  allow: []\n  max_modules: 3\n");
  const before = await waitFor("the neighbour to tick", () => gw.ticks() > 3 && gw.ticks());

  const greedy = await gw.deploy(
    "greedy",
    "schedule: { mode: periodic, period_us: 20000, priority: 99 }\n" +
      "limits: { budget_us: 60000000, max_memory_mb: 4096 }\n",
  );
  assert.equal(greedy.status, 422);
  assert.equal(greedy.body.error.code, "manifest_invalid");
  const issues = greedy.body.error.issues as ManifestIssue[];
  assertSameRows(
    issues.map((i) => [i.path, i.code, i.limit, i.requested, i.allowed]),
    [
      [
        "modules.greedy.limits.budget_us",
        "policy_limit_exceeded",
        "policy.max_budget_us",
        60_000_000,
        100_000,
      ],
      [
        "modules.greedy.limits.budget_us",
        "policy_limit_exceeded",
        "policy.max_init_budget_us",
        initBudgetUs(60_000_000),
        2_000_000,
      ],
      ["modules.greedy.limits.max_memory_mb", "policy_limit_exceeded", "policy.max_memory_mb", 4096, 64],
      ["modules.greedy.schedule.priority", "policy_limit_exceeded", "policy.max_priority", 99, 90],
      [
        "modules.greedy.schedule.priority",
        "realtime_not_granted",
        "use:executor:realtime",
        "realtime",
        "normal",
      ],
    ],
  );
  // Each issue's line is that of the entry the client sent (schedule on line 1, limits on line 2), never a
  // line of the merged manifest.
  assert.deepEqual(
    issues.map((i) => i.line),
    issues.map((i) => i.path.startsWith("modules.greedy.schedule.") ? 1 : 2),
  );
  assert.equal(gw.runtime.getModule("greedy"), null, "a refused deploy leaves nothing behind");

  // A replacement over a limit is refused the same way, and the running version stays.
  const ok = await gw.deploy("extra", TICK);
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  const sha = gw.runtime.getModule("extra")!.sha256;
  const worse = await gw.deploy("extra", TICK.replace("max_memory_mb: 1", "max_memory_mb: 65"));
  assert.equal(worse.status, 422);
  assert.deepEqual(
    (worse.body.error.issues as ManifestIssue[]).map((i) => [i.path, i.limit]),
    [["modules.extra.limits.max_memory_mb", "policy.max_memory_mb"]],
  );
  assert.equal(gw.runtime.getModule("extra")!.sha256, sha);
  assert.equal(gw.runtime.getModule("extra")!.state, "running");

  // The neighbour never stopped, and no answer was a 5xx.
  await waitFor("the neighbour to keep ticking", () => gw.ticks() > before + 3);
  assert.equal(gw.runtime.getModule("base")!.restarts, 0);
  assert.notEqual(gw.runtime.health().status, "stopping");
});

Deno.test("modules per gateway counts a deploy's module, and a replacement does not add one", async () => {
  await using gw = await apiGateway("  allow: []\n  max_modules: 2\n");
  assert.equal((await gw.deploy("second", TICK)).status, 201);
  const third = await gw.deploy("third", TICK);
  assert.equal(third.status, 422);
  assert.deepEqual(
    (third.body.error.issues as ManifestIssue[]).map((
      i,
    ) => [i.path, i.code, i.limit, i.requested, i.allowed]),
    [["modules", "policy_limit_exceeded", "policy.max_modules", 3, 2]],
  );
  assert.equal(gw.runtime.getModule("third"), null);
  const replaced = await gw.deploy("second", TICK.replace("20000", "30000"));
  assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
});
