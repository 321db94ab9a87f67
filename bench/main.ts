/**
 * `deno task bench [--only a,b]`: runs each benchmark in its own process (so one cannot skew another's JIT
 * or heap), each writing `bench/results/<name>.json`, then prints a summary of the figures.
 *
 * @module
 */
const BENCHES: readonly {
  name: string;
  script: string;
  summary: (r: Record<string, unknown>) => string[];
}[] = [
  {
    name: "instrumentation",
    script: "instrumentation.ts",
    summary: (r) => {
      const cases = r.cases as Record<string, Record<string, unknown>>;
      return Object.entries(cases).map(([name, c]) => {
        const p = (k: string) => (c[k] as { p50: number }).p50;
        return `${name}: kiln_on_samples p50 ${p("plain_us")} us plain, ${
          p("instrumented_us")
        } us with interrupt ` +
          `checks (+${c.overhead_percent}%), ${p("fuel_us")} us with fuel (+${c.fuel_overhead_percent}%)`;
      });
    },
  },
  {
    name: "periodic",
    script: "periodic.ts",
    summary: (r) =>
      (["idle", "loaded"] as const).map((k) => {
        const x = r[k] as { lateness_us: { p50: number; p99: number; max: number }; deadline_misses: number };
        return `1 kHz tick lateness, ${k}: p50 ${x.lateness_us.p50} us, p99 ${x.lateness_us.p99} us, max ${x.lateness_us.max} us, ${x.deadline_misses} missed`;
      }),
  },
  {
    name: "events",
    script: "events.ts",
    summary: (r) =>
      (["idle", "loaded"] as const).map((k) => {
        const x = r[k] as { trigger_to_actuator_us: { p50: number; p99: number; p999: number } };
        const l = x.trigger_to_actuator_us;
        return `event trigger to actuator, ${k}: p50 ${l.p50} us, p99 ${l.p99} us, p99.9 ${l.p999} us`;
      }),
  },
  {
    name: "stream",
    script: "stream.ts",
    summary: (r) =>
      (r.runs as { sensors: number; samples_per_s: number; dropped_samples: number; cpu_percent: number }[])
        .map((x) =>
          `${x.sensors} x 25.6 kHz through FFT + anomaly: ${
            x.samples_per_s.toLocaleString("en")
          } samples/s, ` +
          `${x.dropped_samples} dropped, ${x.cpu_percent}% of a core`
        ),
  },
  {
    name: "channels",
    script: "channels.ts",
    summary: (r) => {
      const l = r.latency_us as Record<string, { p50: number; p99: number; p999: number }>;
      const t = r.records_per_s as Record<string, number>;
      return [
        ...Object.entries(l).map(([k, v]) =>
          `one-way latency, ${k} reader: p50 ${v.p50} us, p99 ${v.p99} us, p99.9 ${v.p999} us`
        ),
        ...Object.entries(t).map(([k, v]) =>
          `throughput, ${k} records: ${Math.round(v).toLocaleString("en")} records/s`
        ),
      ];
    },
  },
  {
    name: "outbox",
    script: "outbox.ts",
    summary: (r) => {
      type Case = {
        written_msgs_per_s: number;
        drained_msgs_per_s: number;
        disk_bytes_per_msg: number;
        budget_bytes_per_msg: number;
        write_syscall_bytes_per_msg: number;
        batched_100_per_transaction: { written_msgs_per_s: number; write_syscall_bytes_per_msg: number };
      };
      const n = (x: number) => x.toLocaleString("en");
      const b = r.mode_c_batch_60s as { outputs: number; zstd_bytes: number; gzip_bytes: number };
      return [
        ...Object.entries(r.cases as Record<string, Case>).map(([k, c]) =>
          `${k}: written ${n(c.written_msgs_per_s)} msgs/s (${
            n(c.batched_100_per_transaction.written_msgs_per_s)
          } ` +
          `in batches of 100), drained ${n(c.drained_msgs_per_s)} msgs/s, ${
            n(c.disk_bytes_per_msg)
          } B on disk ` +
          `per message (budget counts ${n(c.budget_bytes_per_msg)}), ${
            n(c.write_syscall_bytes_per_msg)
          } B written ` +
          `per message alone, ${n(c.batched_100_per_transaction.write_syscall_bytes_per_msg)} in batches`
        ),
        `Mode C batch of 60 s (${n(b.outputs)} outputs): ${n(b.zstd_bytes)} B zstd, ${
          n(b.gzip_bytes)
        } B gzip`,
      ];
    },
  },
  {
    name: "cold_start",
    script: "cold_start.ts",
    summary: (r) => {
      type C = {
        memory_mib: number;
        used_mib: number;
        without_snapshot_ms: number;
        with_snapshot_ms: number;
        read_ms: number;
        restore_ms: number;
        speedup: number;
      };
      const p = r.process as { memory_mib: number; without_snapshot_ms: number; with_snapshot_ms: number };
      return [
        ...(r.in_process as C[]).map((c) =>
          `${c.memory_mib} MiB (${c.used_mib} MiB used): start ${c.without_snapshot_ms} ms with kiln_init, ` +
          `${c.with_snapshot_ms} ms from a snapshot (read ${c.read_ms} ms, restore ${c.restore_ms} ms), ${c.speedup}x`
        ),
        `process start to module running, ${p.memory_mib} MiB: ${p.without_snapshot_ms} ms cold, ` +
        `${p.with_snapshot_ms} ms from a snapshot`,
      ];
    },
  },
];

const onlyIndex = Deno.args.indexOf("--only");
const only = onlyIndex >= 0 ? new Set((Deno.args[onlyIndex + 1] ?? "").split(",")) : null;
const unknown = only ? [...only].filter((n) => !BENCHES.some((b) => b.name === n)) : [];
if (unknown.length > 0) {
  console.error(
    `Unknown benchmark ${unknown.map((n) => `"${n}"`).join(", ")}; known: ${
      BENCHES.map((b) => b.name).join(", ")
    }`,
  );
  Deno.exit(2);
}

let failed = 0;
const failedNames = new Set<string>();
for (const b of BENCHES) {
  if (only && !only.has(b.name)) continue;
  const script = new URL(b.script, import.meta.url);
  try {
    await Deno.stat(script);
  } catch {
    console.log(`${b.name}: not built yet (bench/${b.script} is missing)`);
    continue;
  }
  console.log(`== ${b.name}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script.pathname],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) {
    failed++;
    failedNames.add(b.name);
    console.error(`${b.name}: exited with ${code}`);
  }
}

console.log("\nSummary");
for (const b of BENCHES) {
  if (only && !only.has(b.name)) continue;
  if (failedNames.has(b.name)) {
    console.log(`  ${b.name}: FAILED in this run (older results in bench/results/ are not shown)`);
    continue;
  }
  try {
    const r = JSON.parse(await Deno.readTextFile(new URL(`results/${b.name}.json`, import.meta.url)));
    for (const line of b.summary(r)) console.log(`  ${b.name}: ${line}`);
  } catch {
    console.log(`  ${b.name}: no results`);
  }
}
Deno.exit(failed > 0 ? 1 : 0);
