/**
 * The one-file install (issue #20, `deno task package`): builds `dist/kiln-<os>-<arch>.run` and writes its
 * size, with the Deno binary's and the bundle's shares, to `bench/results/package.json`. It also times the
 * package's first run on a fresh machine (an empty `HOME`: sha256 check, extraction, then
 * `kiln --version`) and a later run (extracted already: straight to `exec`).
 *
 * The bundle's share of the compressed payload is the bundle gzip-compressed on its own; the Deno binary's
 * is the rest of the payload.
 *
 * @module
 */
import { join } from "node:path";
import type { PackageInfo } from "../scripts/package.ts";
import { distribution, machine, ROOT, writeResult } from "./_plan.ts";
import { denoTask } from "../tests/_process.ts";

/** A `--version` run, extraction included. */
const RUN_TIMEOUT_MS = 60_000;
const WARM_ROUNDS = 5;

const t0 = performance.now();
const built = await denoTask("package");
const buildS = (performance.now() - t0) / 1000;
if (built.code !== 0) {
  console.error(built.output);
  throw new Error(`deno task package exited with ${built.code}`);
}
const target = `kiln-${Deno.build.os}-${Deno.build.arch}.run`;
const info = JSON.parse(await Deno.readTextFile(join(ROOT, "dist", `${target}.json`))) as PackageInfo;

/** Runs `<package> --version` with `home` as HOME; its wall time in ms. */
async function versionRun(path: string, home: string): Promise<number> {
  const start = performance.now();
  const out = await new Deno.Command(path, {
    args: ["--version"],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: home },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
  }).output();
  const ms = performance.now() - start;
  if (out.code !== 0) {
    throw new Error(`${path} --version exited with ${out.code}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return ms;
}

const tmp = await Deno.makeTempDir({ prefix: "kiln-bench-package-" });
let firstRunMs: number;
const warm: number[] = [];
try {
  const copy = join(tmp, target);
  await Deno.copyFile(join(ROOT, "dist", target), copy);
  await Deno.mkdir(join(tmp, "home"));
  firstRunMs = await versionRun(copy, join(tmp, "home"));
  for (let i = 0; i < WARM_ROUNDS; i++) warm.push(await versionRun(copy, join(tmp, "home")));
} finally {
  await Deno.remove(tmp, { recursive: true });
}

const mib = (n: number) => Math.round(n / 1048576 * 10) / 10;
const result = {
  machine: await machine(),
  method: "deno task package, then the file copied alone to a temporary folder and run as " +
    "`<file> --version` with an empty HOME (first run: sha256 check and extraction) and again " +
    `${WARM_ROUNDS} times (extracted: exec straight away)`,
  package: {
    file: info.file,
    deno_version: info.denoVersion,
    sha256: info.sha256,
    size_bytes: info.sizeBytes,
    size_mib: mib(info.sizeBytes),
    header_bytes: info.headerBytes,
    payload_bytes: info.payloadBytes,
    deno_binary_bytes: info.denoBytes,
    deno_binary_compressed_bytes: info.payloadBytes - info.bundleGzipBytes,
    bundle_bytes: info.bundleBytes,
    bundle_compressed_bytes: info.bundleGzipBytes,
    deno_share_percent: Math.round((info.payloadBytes - info.bundleGzipBytes) / info.sizeBytes * 1000) / 10,
    bundle_share_percent: Math.round(info.bundleGzipBytes / info.sizeBytes * 1000) / 10,
    extracted_bytes: info.denoBytes + info.bundleBytes,
    build_s: Math.round(buildS * 10) / 10,
    first_run_ms: Math.round(firstRunMs),
    warm_run_ms: distribution(warm, 1),
  },
};
await writeResult("package", result);
console.log(JSON.stringify(result.package, null, 2));
