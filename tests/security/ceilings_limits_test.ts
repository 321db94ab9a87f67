/**
 * The device policy's numeric limits (issue #14, "the policy has no ceilings") on a manifest: priority,
 * budgets, memory, fuel, channels, snapshots, the number of modules and the resource account's limits; a
 * manifest over a limit is refused, all or nothing, each violation naming the field, the value asked for and
 * the limit; the example manifests stay valid, and `kiln validate` lists every violation.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_POLICY_LIMITS,
  initBudgetUs,
  type LoadedManifest,
  loadManifest,
  type Manifest,
  ManifestError,
  parseManifest,
} from "../../runtime/manifest/mod.ts";
import { planDeployment } from "../../runtime/mod.ts";
import { ROOT, runKiln } from "../_process.ts";
import { wat } from "../_helpers.ts";
import { assertOverLimit, assertSameRows, gateway, refusal, ticker } from "./_ceilings.ts";

Deno.test("each policy limit refuses a manifest that asks for more, naming the field, the value and the limit", async (t) => {
  await t.step("schedule.priority over max_priority (90 by default)", () => {
    assertOverLimit(
      gateway(
        ticker("m", "    capabilities: [use:executor:realtime]\n").replace(
          "20000 }",
          "20000, priority: 99 }",
        ),
      ),
      { path: "modules.m.schedule.priority", limit: "policy.max_priority", requested: 99, allowed: 90 },
    );
  });
  await t.step("limits.budget_us over max_budget_us (100 ms by default)", () => {
    assertOverLimit(
      gateway(ticker("m", "    limits: { budget_us: 150000 }\n"), "  max_init_budget_us: 10000000\n"),
      {
        path: "modules.m.limits.budget_us",
        limit: "policy.max_budget_us",
        requested: 150_000,
        allowed: 100_000,
      },
    );
  });
  await t.step("the init budget (10 x budget_us) over max_init_budget_us", () => {
    assertOverLimit(
      gateway(ticker("m", "    limits: { budget_us: 60000 }\n"), "  max_init_budget_us: 500000\n"),
      {
        path: "modules.m.limits.budget_us",
        limit: "policy.max_init_budget_us",
        requested: initBudgetUs(60_000),
        allowed: 500_000,
      },
    );
  });
  await t.step("limits.max_memory_mb over max_memory_mb (64 by default)", () => {
    assertOverLimit(
      gateway(ticker("m", "    limits: { max_memory_mb: 512 }\n")),
      { path: "modules.m.limits.max_memory_mb", limit: "policy.max_memory_mb", requested: 512, allowed: 64 },
    );
  });
  await t.step("a default over a lowered limit is named too", () => {
    const issue = assertOverLimit(
      gateway(ticker("m"), "  max_memory_mb: 8\n"),
      { path: "modules.m.limits.max_memory_mb", limit: "policy.max_memory_mb", requested: 16, allowed: 8 },
    );
    assert.match(issue.message, /the default/);
  });
  await t.step("limits.fuel over max_fuel, when the policy sets one", () => {
    const fuel = ticker("m", "    limits: { fuel: 5000000 }\n");
    parseManifest(gateway(fuel)); // no max_fuel: no limit on fuel
    assertOverLimit(
      gateway(fuel, "  max_fuel: 1000000\n"),
      { path: "modules.m.limits.fuel", limit: "policy.max_fuel", requested: 5_000_000, allowed: 1_000_000 },
    );
  });
  await t.step(
    "a block-writer channel's block_timeout_us over max_block_timeout_us (10 ms by default)",
    () => {
      const modules = ticker("w", "    capabilities: [write:channel:c]\n");
      const channel = (keys: string) => `channels:\n  c: { writer: w, overflow: block-writer${keys} }\n`;
      assertOverLimit(
        gateway(modules, "", channel(", block_timeout_us: 5000000")),
        {
          path: "channels.c.block_timeout_us",
          limit: "policy.max_block_timeout_us",
          requested: 5_000_000,
          allowed: 10_000,
        },
      );
      // Left out, the writer waits 1 ms: still checked against a lower limit.
      assertOverLimit(
        gateway(modules, "  max_block_timeout_us: 500\n", channel("")),
        {
          path: "channels.c.block_timeout_us",
          limit: "policy.max_block_timeout_us",
          requested: 1000,
          allowed: 500,
        },
      );
    },
  );
  await t.step("a channel's size_bytes over max_channel_bytes (16 MiB by default)", () => {
    assertOverLimit(
      gateway(
        ticker("w", "    capabilities: [write:channel:c]\n"),
        "",
        `channels:\n  c: { writer: w, size_bytes: 67108864 }\n`,
      ),
      {
        path: "channels.c.size_bytes",
        limit: "policy.max_channel_bytes",
        requested: 64 << 20,
        allowed: 16 << 20,
      },
    );
  });
  await t.step("persistence.snapshot_interval_s under min_snapshot_interval_s (1 s by default)", () => {
    assertOverLimit(
      gateway(ticker("m", "    persistence: { snapshot: true, snapshot_interval_s: 0.1 }\n")),
      {
        path: "modules.m.persistence.snapshot_interval_s",
        limit: "policy.min_snapshot_interval_s",
        requested: 0.1,
        allowed: 1,
      },
    );
  });
  await t.step("the number of modules over max_modules (32 by default)", () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => ticker(`m${i}`)).join("");
    parseManifest(gateway(many(DEFAULT_POLICY_LIMITS.max_modules)));
    assertOverLimit(gateway(many(DEFAULT_POLICY_LIMITS.max_modules + 1)), {
      path: "modules",
      limit: "policy.max_modules",
      requested: DEFAULT_POLICY_LIMITS.max_modules + 1,
      allowed: DEFAULT_POLICY_LIMITS.max_modules,
    });
    assertOverLimit(gateway(many(3), "  max_modules: 2\n"), {
      path: "modules",
      limit: "policy.max_modules",
      requested: 3,
      allowed: 2,
    });
  });
});

Deno.test("policy.max_limits bounds the resource account's limits, a default included", () => {
  const policy = "  max_limits: { publish_per_s: 10, max_array_bytes: 1048576 }\n";
  parseManifest(gateway(ticker("m", "    limits: { publish_per_s: 10, max_array_bytes: 4096 }\n"), policy));
  assertOverLimit(
    gateway(ticker("m", "    limits: { max_array_bytes: 4194304, publish_per_s: 5 }\n"), policy),
    {
      path: "modules.m.limits.max_array_bytes",
      limit: "policy.max_limits.max_array_bytes",
      requested: 4 << 20,
      allowed: 1 << 20,
    },
  );
  // Left out, publish_per_s is the account's default (50), above this policy's 10.
  const issue = assertOverLimit(gateway(ticker("m"), policy), {
    path: "modules.m.limits.publish_per_s",
    limit: "policy.max_limits.publish_per_s",
    requested: 50,
    allowed: 10,
  });
  assert.match(issue.message, /the default/);
  // A key that is not a resource account limit is refused with the allowed ones named.
  assert.deepEqual(
    refusal(gateway(ticker("m"), "  max_limits: { budget_us: 10 }\n")).map((i) => i.path),
    ["policy.max_limits.budget_us"],
  );
});

Deno.test("a policy that raises a limit accepts what it allows, and a limit the schema refuses is reported once", () => {
  const greedy = ticker("m", "    limits: { budget_us: 200000, max_memory_mb: 256 }\n");
  assert.equal(refusal(gateway(greedy)).length, 2);
  const raised = parseManifest(gateway(greedy, "  max_budget_us: 200000\n  max_memory_mb: 256\n"));
  assert.equal(raised.modules.m?.limits.budget_us, 200_000);
  assert.deepEqual(
    refusal(gateway(ticker("m"), "  max_priority: 120\n  max_modules: none\n")).map((i) => i.path),
    ["policy.max_priority", "policy.max_modules"],
  );
});

Deno.test("every violation of a manifest is listed at once, with the schema's own issues", () => {
  const text = gateway(
    ticker(
      "greedy",
      "    limits: { budget_us: 5000000, max_memory_mb: 1024, fuel: 0 }\n    capabilities: [use:executor:realtime]\n",
    ).replace("20000 }", "20000, priority: 95 }") + ticker("quiet"),
    "  max_modules: 1\n",
  );
  assertSameRows(refusal(text).map((i) => [i.path, i.code ?? null, i.limit ?? null]), [
    ["modules", "policy_limit_exceeded", "policy.max_modules"],
    ["modules.greedy.schedule.priority", "policy_limit_exceeded", "policy.max_priority"],
    ["modules.greedy.limits.budget_us", "policy_limit_exceeded", "policy.max_budget_us"],
    ["modules.greedy.limits.budget_us", "policy_limit_exceeded", "policy.max_init_budget_us"],
    ["modules.greedy.limits.max_memory_mb", "policy_limit_exceeded", "policy.max_memory_mb"],
    ["modules.greedy.limits.fuel", null, null], // fuel 0: the schema's own issue, not a limit
  ]);
});

Deno.test("a policy with max_fuel meters a module that sets no limits.fuel at the limit", () => {
  const manifest = parseManifest(
    gateway(ticker("m") + ticker("n", "    limits: { fuel: 5000 }\n"), "  max_fuel: 90000\n"),
  );
  const plan = planDeployment({
    ...manifest,
    file: "/m.yaml",
    dir: "/",
    modules: withWasm(manifest.modules),
  });
  assert.deepEqual(plan.modules.map((m) => [m.name, m.fuel]), [["m", 90_000], ["n", 5000]]);
  assert.equal(plan.policyLimits?.maxFuel, 90_000);
  assert.equal(plan.policyLimits?.maxPriority, DEFAULT_POLICY_LIMITS.max_priority);
});

/** A parsed manifest's modules as `loadManifest` resolves them, without files. */
function withWasm(modules: Manifest["modules"]): LoadedManifest["modules"] {
  return Object.fromEntries(
    Object.entries(modules).map((
      [name, m],
    ) => [name, { ...m, wasm: { path: m.wasm ?? "", resolved: `/${m.wasm ?? ""}` }, data: {} }]),
  );
}

Deno.test("every example manifest and the JSON fixture stay within the default limits", async () => {
  for (const file of ["examples/demo.yaml", "examples/plant.yaml", "tests/manifest/fixtures/plant.json"]) {
    const manifest = await loadManifest(`${ROOT}${file}`);
    assert.ok(Object.keys(manifest.modules).length > 0, file);
  }
  // The invalid example fails for its own three mistakes, none of them a limit.
  await assert.rejects(() => loadManifest(`${ROOT}examples/invalid.yaml`), (err: unknown) => {
    assert.ok(err instanceof ManifestError);
    assert.equal(err.issues.length, 3);
    assert.ok(err.issues.every((i) => i.code === undefined));
    return true;
  });
});

Deno.test("kiln validate lists every violation with its limit and exits 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/m.wasm`,
      wat(`(module (memory (export "memory") 1)
      (func (export "kiln_abi_version") (result i32) (i32.const 1))
      (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0)))`),
    );
    await Deno.writeTextFile(
      `${dir}/greedy.yaml`,
      gateway(ticker("m", "    limits: { budget_us: 150000 }\n").replace("20000 }", "20000, priority: 80 }")),
    );
    const r = await runKiln(["validate", `${dir}/greedy.yaml`]);
    assert.equal(r.code, 1, r.stdout);
    const lines = r.stderr.split("\n").filter((l) => /^\s+modules\./.test(l));
    assert.equal(lines.length, 2, r.stderr);
    assert.match(r.stderr, /modules\.m\.schedule\.priority: .*use:executor:realtime.*\(line \d+\)/);
    assert.match(
      r.stderr,
      /modules\.m\.limits\.budget_us: budget_us is 150000, above .*policy\.max_budget_us is 100000 \(line \d+\)/,
    );
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
