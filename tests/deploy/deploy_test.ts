/**
 * `deploy/`: the Grafana dashboard and the Prometheus rules query only metrics a running Kiln exports, the
 * Prometheus files pass promtool, and the systemd unit keeps its hardening (and passes systemd-analyze
 * where it is installed).
 *
 * @module
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { AUTH, ROOT, runKiln, startKiln } from "../_process.ts";
import { TOOL_TIMEOUT_MS } from "../_timeouts.ts";
import { startPrometheus } from "./_prometheus.ts";
import { EXEC_START, hardeningProblems, parseUnit } from "./_systemd_unit.ts";

const DEPLOY = `${ROOT}deploy/`;
const PROMTOOL_HINT =
  "promtool is not installed: run `apt-get install -y prometheus` (Debian's package ships " +
  "promtool; .ci/run installs it)";

/** A query and where it comes from (a panel's title, a rule's name, a variable). */
interface Query {
  where: string;
  expr: string;
}

/** Every PromQL query of the dashboard: its panels' targets (rows included) and its variables. */
function dashboardQueries(dashboard: Record<string, unknown>): Query[] {
  const out: Query[] = [];
  const walk = (panels: unknown) => {
    for (const p of (panels ?? []) as { title?: string; targets?: { expr?: string }[]; panels?: unknown }[]) {
      for (const t of p.targets ?? []) {
        if (typeof t.expr === "string") out.push({ where: `panel "${p.title}"`, expr: t.expr });
      }
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  const vars = (dashboard.templating as { list?: { name: string; query: unknown }[] } | undefined)?.list ??
    [];
  for (const v of vars) {
    const q = typeof v.query === "string" ? v.query : (v.query as { query?: string } | null)?.query;
    if (typeof q === "string") out.push({ where: `variable "${v.name}"`, expr: q });
  }
  return out;
}

/** Every rule's expression in a Prometheus rules file. */
function ruleQueries(
  rules: { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] },
): Query[] {
  return rules.groups.flatMap((g) =>
    g.rules.map((r) => ({ where: `rule "${r.alert ?? r.record}"`, expr: String(r.expr) }))
  );
}

/** The `kiln_*` metric names a query names, leaving out quoted strings (label values). */
function kilnNames(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  return [...new Set(code.match(/\bkiln_[a-zA-Z0-9_:]+/g) ?? [])];
}

/** The metric names of a text exposition: every sample's name (a histogram's `_bucket`, `_sum`, `_count`). */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

/** Runs a tool to completion, bounded; null when it is not installed. */
async function tool(cmd: string, args: string[]): Promise<{ code: number; output: string } | null> {
  try {
    const { code, stdout, stderr } = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
    }).output();
    const dec = new TextDecoder();
    return { code, output: (dec.decode(stdout) + dec.decode(stderr)).trim() };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

async function promtool(args: string[]): Promise<{ code: number; output: string }> {
  const ran = await tool("promtool", args);
  if (ran === null) assert.fail(PROMTOOL_HINT);
  return ran;
}

const systemdAnalyze = (await tool("systemd-analyze", ["--version"])) !== null;

Deno.test("the dashboard and the rules query what a running demo exports, through a real Prometheus", async (t) => {
  const dashboard = dashboardQueries(await readJson(`${DEPLOY}grafana-dashboard.json`));
  const rules = ruleQueries(parseYaml(await Deno.readTextFile(`${DEPLOY}kiln_rules.yml`)));
  const data = await Deno.makeTempDir({ prefix: "kiln_deploy_" });
  try {
    await using kiln = await startKiln(["--data", data]);

    await t.step("/metrics needs a token (api.metrics_public is off by default)", async () => {
      const anonymous = await fetch(`${kiln.base}/metrics`);
      await anonymous.body?.cancel();
      assert.equal(anonymous.status, 401);
    });

    await t.step("every kiln_* metric a panel or a rule names is exported", async () => {
      const wanted = [...dashboard, ...rules].flatMap((q) =>
        kilnNames(q.expr).map((name) => ({ ...q, name }))
      );
      assert.ok(
        wanted.length > 40,
        `only ${wanted.length} kiln_* references found: the parsing missed queries`,
      );
      // Families appear once they have a series (a histogram after the first calls): read until every
      // wanted name is there or a generous bound passes, then report what is still missing.
      let names = new Set<string>();
      const deadline = Date.now() + 60_000;
      for (;;) {
        const res = await fetch(`${kiln.base}/metrics`, { headers: AUTH });
        assert.equal(res.status, 200);
        names = exportedNames(await res.text());
        if (wanted.every((w) => names.has(w.name)) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(
        names.has("kiln_module_handler_duration_seconds_bucket"),
        "the handler histogram is exported",
      );
      const unknown = wanted.filter((w) => !names.has(w.name)).map((w) => `${w.where}: ${w.name}`);
      assert.deepEqual([...new Set(unknown)], [], `queries name metrics /metrics does not export`);
    });

    await t.step(
      "Prometheus with deploy/prometheus.yml and a viewer token gets data for every panel",
      async () => {
        // The token as docs/install.md makes it, beside the running gateway.
        const created = await runKiln([
          "token",
          "create",
          "--role",
          "viewer",
          "--name",
          "prometheus",
          "--data",
          data,
          "--json",
        ]);
        assert.equal(created.code, 0, created.stderr);
        const viewer = JSON.parse(created.stdout.trim().split("\n").at(-1)!).token as string;
        const dir = await Deno.makeTempDir({ prefix: "kiln_prometheus_" });
        try {
          await Deno.writeTextFile(`${dir}/kiln.token`, `${viewer}\n`);
          await Deno.writeTextFile(
            `${dir}/prometheus.yml`,
            JSON.stringify(await scrapeConfig(dir, kiln.base)),
          );
          await Deno.copyFile(`${DEPLOY}kiln_rules.yml`, `${dir}/kiln_rules.yml`);
          let prometheus;
          try {
            prometheus = await startPrometheus(dir);
          } catch (err) {
            if (err instanceof Deno.errors.NotFound) assert.fail(PROMTOOL_HINT);
            throw err;
          }
          await using _prometheus = prometheus;
          // Enough scrapes (1 s apart here) for rate() over the 10 s that stand in for $__rate_interval.
          const deadline = Date.now() + 90_000;
          let scrapes = 0;
          while (scrapes < 12 && Date.now() < deadline) {
            const r = await prometheus.query('count_over_time(up{job="kiln"}[1m])');
            scrapes = Number(r.data?.result[0]?.value[1] ?? 0);
            if (scrapes < 12) await new Promise((r) => setTimeout(r, 1_000));
          }
          const up = await prometheus.query('up{job="kiln"}');
          assert.equal(
            up.data?.result[0]?.value[1],
            "1",
            `the scrape with the viewer token fails:\n${prometheus.output()}`,
          );
          const problems: string[] = [];
          for (const q of dashboard.filter((q) => !q.expr.startsWith("label_values("))) {
            const r = await prometheus.query(grafanaVariables(q.expr, "10s"));
            if (r.status !== "success") problems.push(`${q.where}: ${r.error}`);
            else if ((r.data?.result.length ?? 0) === 0) problems.push(`${q.where}: no series for ${q.expr}`);
          }
          for (const q of rules) {
            const r = await prometheus.query(q.expr);
            if (r.status !== "success") problems.push(`${q.where}: ${r.error}`);
          }
          assert.deepEqual(problems, []);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    );
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

/** deploy/prometheus.yml, scraping `base` every second with the token file in `dir`. */
async function scrapeConfig(dir: string, base: string): Promise<Record<string, unknown>> {
  const config = parseYaml(await Deno.readTextFile(`${DEPLOY}prometheus.yml`)) as {
    global: Record<string, string>;
    scrape_configs: {
      job_name: string;
      authorization: { credentials_file: string };
      static_configs: { targets: string[] }[];
    }[];
  };
  Object.assign(config.global, { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" });
  const job = config.scrape_configs.find((j) => j.job_name === "kiln");
  assert.ok(job, 'deploy/prometheus.yml has a job named kiln (the rules select job="kiln")');
  job.authorization.credentials_file = `${dir}/kiln.token`;
  job.static_configs[0]!.targets = [new URL(base).host];
  return config;
}

/** A dashboard query with Grafana's variables filled in: every gateway and module, a fixed rate window. */
function grafanaVariables(expr: string, rateInterval: string): string {
  const all = ".*";
  return expr.replaceAll("$__rate_interval", rateInterval).replaceAll("$instance", all)
    .replaceAll("$module", all);
}

Deno.test("the metric name check would catch a misspelled metric in a panel", () => {
  const queries = dashboardQueries({
    panels: [{
      type: "row",
      title: "r",
      panels: [{
        title: "Inner",
        targets: [{ expr: 'rate(kiln_module_invocation_total{module="kiln_x"}[1m])' }],
      }],
    }],
  });
  assert.deepEqual(queries.map((q) => [q.where, kilnNames(q.expr)]), [[
    'panel "Inner"',
    ["kiln_module_invocation_total"],
  ]]);
});

Deno.test("every dashboard query parses as PromQL once Grafana's variables are filled in", async () => {
  const queries = dashboardQueries(await readJson(`${DEPLOY}grafana-dashboard.json`))
    .filter((q) => !q.expr.startsWith("label_values("));
  const dir = await Deno.makeTempDir({ prefix: "kiln_deploy_" });
  try {
    // promtool parses a rules file's expressions: one recording rule per panel query.
    const rules = queries.map((q, i) => ({
      record: `kiln_dashboard:query_${i}`,
      expr: grafanaVariables(q.expr, "1m"),
    }));
    await Deno.writeTextFile(
      `${dir}/queries.yml`,
      JSON.stringify({ groups: [{ name: "dashboard", rules }] }),
    );
    const { code, output } = await promtool(["check", "rules", `${dir}/queries.yml`]);
    assert.equal(code, 0, output);
    assert.match(output, new RegExp(`SUCCESS: ${rules.length} rules found`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the dashboard takes its Prometheus as an import input and uses it in every panel", async () => {
  const dashboard = await readJson(`${DEPLOY}grafana-dashboard.json`);
  assert.deepEqual(
    (dashboard.__inputs as { name: string; pluginId: string }[]).map((i) => [i.name, i.pluginId]),
    [
      ["DS_PROMETHEUS", "prometheus"],
    ],
  );
  assert.ok((dashboard.schemaVersion as number) >= 36, "a schemaVersion of Grafana 9 or later");
  const walk = (panels: unknown): { title: string; uid: unknown }[] =>
    ((panels ?? []) as { type: string; title: string; datasource?: { uid?: string }; panels?: unknown }[])
      .flatMap((
        p,
      ) => [...(p.type === "row" ? [] : [{ title: p.title, uid: p.datasource?.uid }]), ...walk(p.panels)]);
  const wrong = walk(dashboard.panels).filter((p) => p.uid !== "${DS_PROMETHEUS}").map((p) => p.title);
  assert.deepEqual(wrong, []);
});

Deno.test("promtool accepts the scrape config, the rules, and the rules' unit tests", async (t) => {
  await t.step("promtool check config, with the token file it names", async () => {
    // The config names /etc/prometheus/kiln.token, which promtool requires to exist: check a copy that
    // points at a token file made here, with its rules file beside it.
    const dir = await Deno.makeTempDir({ prefix: "kiln_deploy_" });
    try {
      const text = await Deno.readTextFile(`${DEPLOY}prometheus.yml`);
      assert.ok(text.includes("credentials_file: /etc/prometheus/kiln.token"), "the scrape sends a token");
      await Deno.writeTextFile(`${dir}/kiln.token`, "kiln_viewer_token\n");
      await Deno.writeTextFile(
        `${dir}/prometheus.yml`,
        text.replace(
          "credentials_file: /etc/prometheus/kiln.token",
          `credentials_file: ${dir}/kiln.token`,
        ),
      );
      await Deno.copyFile(`${DEPLOY}kiln_rules.yml`, `${dir}/kiln_rules.yml`);
      const { code, output } = await promtool(["check", "config", `${dir}/prometheus.yml`]);
      assert.equal(code, 0, output);
      assert.match(output, /SUCCESS: 9 rules found/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  await t.step("promtool check rules", async () => {
    const { code, output } = await promtool(["check", "rules", `${DEPLOY}kiln_rules.yml`]);
    assert.equal(code, 0, output);
  });
  await t.step(
    "promtool test rules: crashes, failures, a growing outbox and the watchdog alert",
    async () => {
      const { code, output } = await promtool(["test", "rules", `${ROOT}tests/deploy/kiln_rules_test.yml`]);
      assert.equal(code, 0, output);
      assert.match(output, /SUCCESS/);
    },
  );
});

Deno.test("the systemd unit keeps every hardening option of issue #21", async () => {
  const unit = parseUnit(await Deno.readTextFile(`${DEPLOY}kiln.service`));
  assert.deepEqual(hardeningProblems(unit), []);
});

Deno.test("the hardening check fails when an option is dropped or the capability set widened", async () => {
  const text = await Deno.readTextFile(`${DEPLOY}kiln.service`);
  const mutations: [string, string, RegExp][] = [
    ["NoNewPrivileges=yes", "", /^NoNewPrivileges is missing/],
    [
      "CapabilityBoundingSet=CAP_SYS_NICE",
      "CapabilityBoundingSet=CAP_SYS_NICE CAP_SYS_ADMIN",
      /^CapabilityBoundingSet/,
    ],
    ["ProtectSystem=strict", "ProtectSystem=full", /^ProtectSystem is "full"/],
    [
      "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
      "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_PACKET",
      /^RestrictAddressFamilies/,
    ],
    ["LockPersonality=yes", "LockPersonality=no", /^LockPersonality is "no"/],
    ["RestrictRealtime=no", "RestrictRealtime=yes", /^RestrictRealtime is on/],
    ["ReadWritePaths=", "ReadWritePaths=/etc", /^ReadWritePaths opens "\/etc"/],
  ];
  for (const [from, to, problem] of mutations) {
    assert.ok(text.includes(`\n${from}\n`), `the unit has the line ${from}`);
    const problems = hardeningProblems(parseUnit(text.replace(`\n${from}\n`, `\n${to}\n`)));
    assert.equal(problems.length, 1, `${from} → ${to}: ${problems.join("; ")}`);
    assert.match(problems[0]!, problem);
  }
  const mdwe = hardeningProblems(
    parseUnit(text.replace("[Install]", "[Install]\nMemoryDenyWriteExecute=yes")),
  );
  assert.deepEqual(mdwe, [], "an option after [Install] is not a [Service] option");
  const inService = text.replace("\nUMask=0077\n", "\nUMask=0077\nMemoryDenyWriteExecute=yes\n");
  assert.match(hardeningProblems(parseUnit(inService)).join(), /MemoryDenyWriteExecute is on/);
});

Deno.test({
  name: "systemd-analyze verifies the unit without a warning (its ExecStart pointed at an existing file)",
  ignore: !systemdAnalyze,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "kiln_deploy_" });
    try {
      // The package is not installed here: verify checks that ExecStart is executable, so the copy runs sh.
      const text = await Deno.readTextFile(`${DEPLOY}kiln.service`);
      assert.ok(text.includes(`ExecStart=${EXEC_START}\n`));
      await Deno.writeTextFile(
        `${dir}/kiln.service`,
        text.replace(`ExecStart=${EXEC_START}`, "ExecStart=/bin/sh"),
      );
      const verified = await tool("systemd-analyze", ["verify", `${dir}/kiln.service`]);
      assert.deepEqual(verified, { code: 0, output: "" });
      const security = await tool("systemd-analyze", ["security", "--offline=yes", `${dir}/kiln.service`]);
      assert.equal(security?.code, 0, security?.output ?? "");
      // The exposure score, 0 (locked down) to 10 (unprotected); 2.4 with systemd 252 when this was written.
      const score = /Overall exposure level for kiln\.service: ([\d.]+)/.exec(security?.output ?? "");
      assert.ok(score && Number(score[1]) < 3, security?.output.split("\n").at(-1) ?? "");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
