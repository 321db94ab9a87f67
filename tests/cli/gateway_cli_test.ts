/**
 * The CLI against a running gateway (`kiln status`, `logs`, `deploy`, `events`, `alerts`, `rollback`): one
 * demo `kiln run` with a bearing fault, its admin token only in its data directory's `admin.token` (as a
 * first start without `KILN_ADMIN_TOKEN` makes it), and every command a real `kiln` child process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readOutput, ROOT, runKiln, startKiln } from "../_process.ts";
import { waitFor, wat } from "../_helpers.ts";
import { counterWasm } from "../lifecycle/_gateway.ts";
import { KILN_FLAGS } from "../_process.ts";
import { PEER_LIFETIME_MS, stopChild, TOOL_TIMEOUT_MS } from "../_timeouts.ts";

/** A periodic module that logs a line with an escape sequence and a newline in it on every tick. */
const LOGGER_WASM = wat(`(module
  (import "kiln" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "tick\\0a\\1b[31mred")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (drop (call $log (i32.const 1) (i32.const 16) (i32.const 13)))
    (i32.const 0)))`);

/** A periodic module that takes data blobs (into memory it hands out from 4096) and does nothing else. */
const DATA_WASM = wat(`(module
  (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0)))`);

const PERIODIC_SPEC = "schedule: { mode: periodic, period_us: 200000 }\nlimits: { max_memory_mb: 1 }\n";

Deno.test("the CLI reads, follows and deploys to a running gateway, with the documented exit codes", async (t) => {
  const dir = await Deno.makeTempDir();
  const data = `${dir}/data`;
  // No KILN_ADMIN_TOKEN: the gateway writes its admin token to data/admin.token, as on a first start.
  await using kiln = await startKiln(["--data", data, "--fault", "vibration_1=bearing"], {
    env: { KILN_ADMIN_TOKEN: "" },
  });
  const token = (await Deno.readTextFile(`${data}/admin.token`)).trim();
  const url = kiln.base;
  // The token from $KILN_TOKEN, as an operator's shell would have it.
  const cli = (args: string[], env: Record<string, string> = {}) =>
    runKiln([...args, "--url", url], { env: { KILN_TOKEN: token, ...env } });

  await t.step("the start banner's curl hint works as printed", async () => {
    const line = kiln.output().split("\n").find((l) => l.startsWith("  modules  curl "));
    assert.ok(line, kiln.output());
    assert.match(line, /Authorization: Bearer \$\(cat .*admin\.token\)/);
    const r = await new Deno.Command("sh", {
      args: ["-c", `${line.replace(/^\s*modules\s+/, "").replace("curl ", "curl -sf ")}`],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
    }).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    const body = JSON.parse(new TextDecoder().decode(r.stdout));
    assert.ok(body.modules.some((m: { name: string }) => m.name === "fft"));
  });

  await t.step(
    "kiln status prints a table of modules and connectors, and the API's JSON with --json",
    async () => {
      const table = await cli(["status"]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^gateway gw-demo-01 \(Plant 1 \/ Line 1\): (ok|degraded), kiln /);
      assert.match(table.stdout, /^MODULE\s+STATE\s+INVOCATIONS\s+ERRORS\s+RESTARTS\s+LAST ERROR$/m);
      for (const name of ["fft", "anomaly", "temperature", "safety", "aggregator"]) {
        assert.match(table.stdout, new RegExp(`^${name}\\s+\\w+\\s+\\d+\\s+\\d+\\s+\\d+\\s+`, "m"));
      }
      assert.match(table.stdout, /^CONNECTOR\s+KIND\s+STATE/m);
      const json = await cli(["status", "--json"]);
      assert.equal(json.code, 0, json.stderr);
      const body = JSON.parse(json.stdout);
      assert.equal(body.health.device.id, "gw-demo-01");
      assert.deepEqual(body.modules.map((m: { name: string }) => m.name).sort(), [
        "aggregator",
        "anomaly",
        "fft",
        "safety",
        "temperature",
      ]);
      assert.ok(Array.isArray(body.connectors));
    },
  );

  await t.step(
    "the token is also found in --token-file and in the data directory's admin.token",
    async () => {
      const file = await cli(["status", "--json", "--token-file", `${data}/admin.token`], { KILN_TOKEN: "" });
      assert.equal(file.code, 0, file.stderr);
      const dataDir = await cli(["status", "--json", "--data", data], { KILN_TOKEN: "" });
      assert.equal(dataDir.code, 0, dataDir.stderr);
    },
  );

  await t.step("a wrong token exits 1 and says where a token comes from", async () => {
    const r = await cli(["status"], { KILN_TOKEN: "kiln_wrong" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\(unauthorized\): pass --token/);
  });

  await t.step("a gateway that cannot be reached exits 3", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close(); // a port nothing listens on
    const r = await runKiln(["status", "--url", `http://127.0.0.1:${port}`], { env: { KILN_TOKEN: token } });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /cannot be reached/);
  });

  await t.step("kiln alerts lists the anomaly module's alert after the bearing fault, filtered", async () => {
    const alerts = await waitFor("an alert", async () => {
      const r = await cli(["alerts", "--module", "anomaly", "--severity", "critical"]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim() !== "" && r.stdout;
    }, 60_000);
    assert.match(alerts, /^#\d+\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+critical\s+anomaly\s+-\s+Vibration anomaly/m);
    const none = await cli(["alerts", "--module", "temperature", "--severity", "critical"]);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, "");
    const json = await cli(["alerts", "--json", "--limit", "1"]);
    const alert = JSON.parse(json.stdout.trim());
    assert.equal(typeof alert.seq, "number");
    assert.equal(alert.module, "anomaly");
  });

  await t.step("kiln alerts --ack acknowledges an alert, and --unacked then leaves it out", async () => {
    const json = await cli(["alerts", "--json", "--limit", "1"]);
    const seq = JSON.parse(json.stdout.trim()).seq as number;
    const r = await cli(["alerts", "--ack", String(seq)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Alert #${seq} acknowledged by `));
    const unacked = await cli(["alerts", "--unacked", "--json"]);
    assert.equal(unacked.code, 0, unacked.stderr);
    assert.ok(!unacked.stdout.split("\n").some((l) => l !== "" && JSON.parse(l).seq === seq));
    const missing = await cli(["alerts", "--ack", "99999999"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /alert_not_found/);
  });

  await t.step("kiln events lists the messages the aggregator published", async () => {
    const out = await waitFor("a published message", async () => {
      const r = await cli(["events", "--module", "aggregator", "--json", "--limit", "2"]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim() !== "" && r.stdout;
    }, 30_000);
    const messages = out.trim().split("\n").map((l) => JSON.parse(l));
    assert.ok(messages.length >= 1 && messages.length <= 2);
    for (const m of messages) assert.equal(m.topic, "kiln/summary/temperature");
  });

  await t.step("kiln events -f follows new messages in order, each once, until SIGINT", async () => {
    const args = ["events", "-f", "--module", "aggregator", "--json", "--limit", "1", "--url", url];
    const messages = (await followUntil(args, token, 3)).map((l) => JSON.parse(l));
    // The aggregator is the only publisher: the gateway's sequence numbers follow each other.
    for (const [i, m] of messages.entries()) {
      assert.equal(m.module, "aggregator");
      if (i > 0) assert.equal(m.seq, messages[i - 1].seq + 1);
    }
  });

  await t.step("kiln deploy deploys a counter and prints its version and sha256", async () => {
    await Deno.writeFile(`${dir}/counter.wasm`, counterWasm(1));
    await Deno.writeTextFile(`${dir}/counter.yaml`, PERIODIC_SPEC);
    const r = await cli([
      "deploy",
      `${dir}/counter.wasm`,
      "--name",
      "counter",
      "--spec",
      `${dir}/counter.yaml`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^module "counter": deployed version 1, running/);
    const sha = new Uint8Array(
      await crypto.subtle.digest("SHA-256", counterWasm(1) as Uint8Array<ArrayBuffer>),
    );
    assert.match(
      r.stdout,
      new RegExp(`sha256 ${Array.from(sha, (b) => b.toString(16).padStart(2, "0")).join("")}`),
    );
    await Deno.writeFile(`${dir}/counter2.wasm`, counterWasm(2));
    const again = await cli([
      "deploy",
      `${dir}/counter2.wasm`,
      "--name",
      "counter",
      "--spec",
      `${dir}/counter.yaml`,
      "--json",
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).version_seq, 2);
  });

  await t.step("kiln deploy sends the data files the entry names with --file", async () => {
    await Deno.writeFile(`${dir}/table.bin`, new Uint8Array([1, 2, 3, 4]));
    await Deno.writeFile(`${dir}/data.wasm`, DATA_WASM);
    await Deno.writeTextFile(`${dir}/with_data.yaml`, `${PERIODIC_SPEC}data: { table: table.bin }\n`);
    const args = ["deploy", `${dir}/data.wasm`, "--name", "withdata", "--spec", `${dir}/with_data.yaml`];
    const missing = await cli(args);
    assert.equal(missing.code, 1, missing.stderr);
    const r = await cli([...args, "--file", `${dir}/table.bin`]);
    assert.equal(r.code, 0, r.stderr);
    const versions = await fetch(`${url}/api/v1/modules/withdata/versions`, {
      headers: { authorization: `Bearer ${token}` },
    }).then((res) => res.json());
    assert.deepEqual(Object.keys(versions.versions[0].data), ["table"]);
  });

  await t.step("kiln rollback returns the counter to its first version, with --json", async () => {
    const r = await cli(["rollback", "counter", "--version", "1", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).version_seq, 1);
  });

  await t.step(
    "a refused deploy exits 1 with the error's code and the entry's problem and line",
    async () => {
      await Deno.writeTextFile(
        `${dir}/bad.yaml`,
        `${PERIODIC_SPEC}capabilities: [write:gpio:pin_3]\n`,
      );
      const r = await cli(["deploy", `${dir}/counter.wasm`, "--name", "bad", "--spec", `${dir}/bad.yaml`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^kiln: Cannot deploy module "bad" .*\(manifest_invalid\)$/m);
      assert.match(r.stderr, /^ {2}modules\.bad\.capabilities\[0\]: .*write:gpio:pin_3.* \(line 3\)$/m);
      const json = await cli([
        "deploy",
        `${dir}/counter.wasm`,
        "--name",
        "bad",
        "--spec",
        `${dir}/bad.yaml`,
        "--json",
      ]);
      assert.equal(json.code, 1);
      assert.equal(JSON.parse(json.stdout).error.code, "manifest_invalid");
    },
  );

  await t.step(
    "kiln logs shows a module's lines escaped, and -f follows a new one until SIGINT",
    async () => {
      await Deno.writeFile(`${dir}/logger.wasm`, LOGGER_WASM);
      await Deno.writeTextFile(`${dir}/logger.yaml`, PERIODIC_SPEC);
      const d = await cli([
        "deploy",
        `${dir}/logger.wasm`,
        "--name",
        "logger",
        "--spec",
        `${dir}/logger.yaml`,
      ]);
      assert.equal(d.code, 0, d.stderr);
      const recent = await waitFor("logged lines", async () => {
        const r = await cli(["logs", "logger", "--limit", "2"]);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout.split("\n").filter((l) => l !== "").length === 2 && r.stdout;
      });
      // One line per log line: the newline and ESC shown as escapes.
      for (const l of recent.trim().split("\n")) assert.match(l, /^\S+Z {2}info {3}tick\\n\\x1b\[31mred$/);
      const unknown = await cli(["logs", "nope"]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /module_unknown/);

      // The newest line at once, then lines the stream delivers (the module logs five a second).
      const lines = await followUntil(["logs", "logger", "-f", "--limit", "1", "--url", url], token, 4);
      assert.equal(new Set(lines).size, lines.length, "no line printed twice");
      for (const l of lines) {
        assert.match(l, /tick\\n\\x1b\[31mred$/);
      }
    },
  );
});

/**
 * Runs a following `kiln` command until it printed `lines` lines, then sends it SIGINT and checks it exits 0;
 * returns the lines. The child is bounded by a lifetime and killed after the test in any case.
 */
async function followUntil(args: string[], token: string, lines: number): Promise<string[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...KILN_FLAGS, "main.ts", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", KILN_TOKEN: token },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(PEER_LIFETIME_MS),
  }).spawn();
  const output = readOutput(child);
  try {
    await waitFor(
      `${lines} lines from kiln ${args.join(" ")}`,
      () => output.stdout.split("\n").filter((l) => l !== "").length >= lines,
      30_000,
    );
    child.kill("SIGINT"); // Ctrl-C
    const { code } = await child.status;
    assert.equal(code, 0, output.stderr);
  } finally {
    await stopChild(child);
    await output.closed();
  }
  return output.stdout.trim().split("\n");
}

Deno.test("every kiln command answers --help with its usage, an example and the exit codes, exit 0", async () => {
  const { main } = await import("../../cli/mod.ts");
  const help = await captured(() => main(["--help"]));
  assert.equal(help.code, 0);
  const commands = [...new Set([...help.out.matchAll(/^ {2}kiln ([a-z]+)/gm)].map((m) => m[1]!))]
    .filter((c) => c !== "--version");
  for (const c of ["run", "status", "logs", "deploy", "rollback", "events", "alerts"]) {
    assert.ok(commands.includes(c), c);
  }
  for (const command of commands) {
    const r = await captured(() => main([command, "--help"]));
    assert.equal(r.code, 0, command);
    assert.match(r.out, new RegExp(`^ {2}kiln ${command}\\b`, "m"), command);
    assert.match(r.out, /^Example:\n {2}kiln /m, command);
    assert.match(r.out, /Exit codes: 0 success, 1 .* 3 the gateway cannot be reached/s, command);
  }
  // docs/cli.md documents each of them.
  const doc = await Deno.readTextFile(`${ROOT}docs/cli.md`);
  for (const command of commands) assert.match(doc, new RegExp(`^### kiln ${command}$`, "m"), command);
  // As a user runs it: `kiln run --help` used to answer "Unknown option '--help'".
  const run = await runKiln(["run", "--help"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /Example:\n {2}kiln run /);
  const h = await runKiln(["alerts", "-h"]);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /kiln alerts --severity critical -f/);
});

/** Runs `f` with `console.log` captured; returns its exit code and what it printed. */
async function captured(f: () => Promise<number>): Promise<{ code: number; out: string }> {
  const log = console.log;
  let out = "";
  console.log = (...args: unknown[]) => void (out += `${args.join(" ")}\n`);
  try {
    return { code: await f(), out };
  } finally {
    console.log = log;
  }
}
