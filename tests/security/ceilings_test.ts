/**
 * The device policy's limits (issue #14, "the policy has no ceilings"): a manifest, a deploy over the API or a
 * replacement over a limit is refused, all or nothing, each violation naming the field, the value asked for
 * and the limit; the realtime executor is a grant of its own; the example manifests stay valid.
 */
import assert from "node:assert/strict";
import { apiPorts, createApp } from "../../api/mod.ts";
import {
  DEFAULT_POLICY_LIMITS,
  initBudgetUs,
  type LoadedManifest,
  loadManifest,
  type Manifest,
  ManifestError,
  type ManifestIssue,
  parseManifest,
  REALTIME_PRIORITY as MANIFEST_REALTIME_PRIORITY,
} from "../../runtime/manifest/mod.ts";
import { createDeployer, createRuntime, planDeployment, REALTIME_PRIORITY } from "../../runtime/mod.ts";
import { ROOT, runKiln } from "../_process.ts";
import { waitFor, wat } from "../_helpers.ts";

const ALLOW = "[read:sim:*, write:channel:*, read:channel:*, use:executor:realtime]";

/**
 * A gateway with one vibration sensor and the modules `modules` (YAML under `modules:`), whose policy allows
 * `allow` and has the extra keys `policy`; `extra` goes before `modules:`.
 */
function gateway(modules: string, policy = "", extra = "", allow = ALLOW): string {
  return `version: 1
device: { id: gw-limits }
policy:
  allow: ${allow}
${policy}connectors:
  sim:
    vibration_1: { kind: vibration, rate_hz: 25600 }
${extra}modules:
${modules}`;
}

/** A periodic module named `name` with extra keys (YAML, 4-space indented). */
const ticker = (name: string, keys = "") =>
  `  ${name}:
    wasm: ${name}.wasm
    schedule: { mode: periodic, period_us: 20000 }
${keys}`;

/** The issues `parseManifest` refuses `text` with. */
function refusal(text: string): readonly ManifestIssue[] {
  try {
    parseManifest(text);
  } catch (err) {
    assert.ok(err instanceof ManifestError, `expected a ManifestError, got ${err}`);
    assert.equal(err.code, "manifest_invalid");
    return err.issues;
  }
  assert.fail("expected the manifest to be refused");
}

/** The one issue of a refused manifest, checked to name the limit, the value asked for and the value allowed. */
function assertOverLimit(
  text: string,
  expected: { path: string; limit: string; requested: number; allowed: number },
): ManifestIssue {
  const issues = refusal(text);
  assert.equal(issues.length, 1, issues.map((i) => `${i.path}: ${i.message}`).join("\n"));
  const [issue] = issues;
  assert.ok(issue);
  assert.deepEqual(
    {
      path: issue.path,
      code: issue.code,
      limit: issue.limit,
      requested: issue.requested,
      allowed: issue.allowed,
    },
    { ...expected, code: "policy_limit_exceeded" },
  );
  // The message a user reads names the same three things.
  assert.ok(issue.message.includes(expected.limit), issue.message);
  assert.ok(issue.message.includes(String(expected.requested)), issue.message);
  assert.ok(issue.message.includes(String(expected.allowed)), issue.message);
  assert.equal(typeof issue.line, "number");
  return issue;
}

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

/** Asserts two lists hold the same rows, in any order (issues come in source order). */
function assertSameRows(actual: unknown[][], expected: unknown[][]): void {
  const text = (rows: unknown[][]) => rows.map((row) => JSON.stringify(row)).sort();
  assert.deepEqual(text(actual), text(expected));
}

Deno.test("the realtime executor is a grant of its own: use:executor:realtime, in the module and the policy", async (t) => {
  const event = (capabilities: string) =>
    `  ev:\n    wasm: ev.wasm\n    capabilities: [${capabilities}]\n    schedule: { mode: event, trigger: api }\n`;
  const high = (capabilities: string) =>
    ticker("hi", `    capabilities: [${capabilities}]\n`).replace("20000 }", "20000, priority: 80 }");
  const withPolicy = (modules: string, allow: string) => gateway(modules, "", "", allow);
  const allowed = "[read:sim:*, use:executor:realtime]";

  await t.step("an event module without the grant is refused at schedule.mode", () => {
    const [issue, ...rest] = refusal(withPolicy(event(""), allowed));
    assert.deepEqual(rest, []);
    assert.deepEqual(
      [issue?.path, issue?.code, issue?.limit, issue?.requested, issue?.allowed],
      ["modules.ev.schedule.mode", "realtime_not_granted", "use:executor:realtime", "realtime", "normal"],
    );
    assert.match(issue?.message ?? "", /add "use:executor:realtime" to modules\.ev\.capabilities/);
  });
  await t.step("a priority-80 module without the grant is refused at schedule.priority", () => {
    const [issue, ...rest] = refusal(withPolicy(high(""), allowed));
    assert.deepEqual(rest, []);
    assert.deepEqual([issue?.path, issue?.code], ["modules.hi.schedule.priority", "realtime_not_granted"]);
    assert.match(issue?.message ?? "", new RegExp(`priority 80, at least ${REALTIME_PRIORITY}`));
  });
  await t.step(
    "asking for it outside the policy is refused as any capability the policy does not allow",
    () => {
      for (
        const [name, modules] of [["ev", event("use:executor:realtime")], [
          "hi",
          high("use:executor:realtime"),
        ]]
      ) {
        const issues = refusal(withPolicy(modules!, "[read:sim:*]"));
        assert.deepEqual(issues.map((i) => i.path), [`modules.${name}.capabilities[0]`]);
        assert.match(issues[0]?.message ?? "", /"use:executor:realtime" is not allowed by the device policy/);
      }
    },
  );
  await t.step("with the grant, both are accepted", () => {
    const manifest = parseManifest(
      withPolicy(event("use:executor:realtime") + high("use:executor:realtime"), allowed),
    );
    assert.deepEqual(Object.keys(manifest.modules), ["ev", "hi"]);
  });
  await t.step("a priority of 69 stays on the normal executor and needs no grant", () => {
    parseManifest(withPolicy(ticker("lo").replace("20000 }", "20000, priority: 69 }"), allowed));
  });
  await t.step("the manifest's threshold is the runtime's", () => {
    assert.equal(MANIFEST_REALTIME_PRIORITY, REALTIME_PRIORITY);
  });
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
    ) => [name, { ...m, wasm: { path: m.wasm, resolved: `/${m.wasm}` }, data: {} }]),
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

// ------------------------------------------------------------------------------------------------- the API

/** A periodic module that counts its ticks into the output `count`. */
const COUNTER = `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "count")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))
    (drop (call $output (i32.const 16) (i32.const 5) (f64.convert_i32_u (i32.load (i32.const 64)))))
    (i32.const 0)))`;

/** An event module that does nothing. */
const EVENT = `(module
  (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "kiln_on_event") (param i32 i32 i32) (result i32) (i32.const 0)))`;

/** A running gateway from a manifest file (one healthy module, `base`), its deployer, and its API in process. */
async function apiGateway(policy: string) {
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/base.wasm`, wat(COUNTER));
  const file = `${dir}/kiln.yaml`;
  await Deno.writeTextFile(
    file,
    `version: 1\ndevice: { id: gw-api }\npolicy:\n${policy}modules:\n  base:\n    wasm: base.wasm\n` +
      `    limits: { max_memory_mb: 1 }\n    schedule: { mode: periodic, period_us: 10000 }\n`,
  );
  const runtime = await createRuntime({
    plan: planDeployment(await loadManifest(file)),
    version: "test",
    log: () => {},
  });
  await runtime.start();
  const deployer = createDeployer({ manifestFile: file, dataDir: `${dir}/data`, runtime });
  const app = createApp({ ...apiPorts(runtime), deployer });
  const deploy = async (name: string, spec: string, source = COUNTER) => {
    const form = new FormData();
    form.set("name", name);
    form.set("spec", spec);
    form.set("wasm", new File([wat(source) as Uint8Array<ArrayBuffer>], `${name}.wasm`));
    const res = await app.request("/api/v1/modules", { method: "POST", body: form });
    return { status: res.status, body: await res.json() };
  };
  const ticks = () => runtime.getModule("base")!.invocations;
  return {
    runtime,
    deploy,
    ticks,
    async [Symbol.asyncDispose]() {
      await runtime[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

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

Deno.test("over the API, an event module needs the realtime grant, and with it runs on the realtime executor", async () => {
  const spec = (capabilities: string) =>
    `schedule: { mode: event, trigger: api }\nlimits: { max_memory_mb: 1 }\ncapabilities: [${capabilities}]\n`;
  {
    await using gw = await apiGateway("  allow: [use:executor:realtime]\n");
    const refused = await gw.deploy("ev", spec(""), EVENT);
    assert.equal(refused.status, 422);
    assert.deepEqual(
      (refused.body.error.issues as ManifestIssue[]).map((i) => [i.path, i.code]),
      [["modules.ev.schedule.mode", "realtime_not_granted"]],
    );
    const granted = await gw.deploy("ev", spec("use:executor:realtime"), EVENT);
    assert.equal(granted.status, 201, JSON.stringify(granted.body));
    assert.equal(granted.body.executor, "realtime");
  }
  {
    // The module asks, but this gateway's policy does not allow it.
    await using gw = await apiGateway("  allow: []\n");
    const denied = await gw.deploy("ev", spec("use:executor:realtime"), EVENT);
    assert.equal(denied.status, 422);
    assert.deepEqual(
      (denied.body.error.issues as ManifestIssue[]).map((i) => i.path),
      ["modules.ev.capabilities[0]"],
    );
  }
});
