/**
 * `deno task package`: writes `dist/kiln-<os>-<arch>.run`, one self-contained executable file that carries
 * the Deno binary running this script (`Deno.execPath()`) and the bundle in `dist/` (`deno task bundle`,
 * which the task runs first). Copying that one file to a gateway is the whole install (docs/install.md).
 *
 * The file is a POSIX `sh` header followed by a gzip-compressed tar payload. The header holds the payload's
 * sha256 and its own length; when run, it:
 *
 * 1. unless `${XDG_CACHE_HOME:-$HOME/.cache}/kiln/<sha256>/.complete` exists, hashes the payload with
 *    `sha256sum` and refuses (exit code 1, nothing written) when it differs from the header's; else it
 *    extracts it into a temporary folder beside that one, writes `.complete` and renames the folder into
 *    place (atomic: a concurrent or interrupted first run leaves no half-extracted tree in use);
 * 2. `exec`s the extracted Deno on the bundle with the flags of `deno task kiln` (deno.json) and the
 *    arguments it was given, so the PID a supervisor started is the PID that runs Kiln.
 *
 * It uses only what a minimal Debian has: `sh`, `tail`, `sha256sum`, `cut`, `gzip`, `tar`, `mkdir`,
 * `mktemp`, `mv`, `rm` (coreutils, gzip and tar are all `Essential: yes`). gzip rather than xz: xz-utils is
 * not on every minimal system.
 *
 * Beside it, `dist/kiln-<os>-<arch>.run.json` records its sizes ({@linkcode PackageInfo}) for
 * `bench/package.ts`.
 *
 * @module
 */
// @ts-types="@types/tar-stream"
import tar from "tar-stream";
import { createHash } from "node:crypto";
import { join } from "node:path";

const ROOT = new URL("../", import.meta.url).pathname;

/** What `deno task package` built, as written to `dist/kiln-<os>-<arch>.run.json`. */
export interface PackageInfo {
  /** The package's file name in `dist/`. */
  file: string;
  /** Kiln's version (deno.json). */
  version: string;
  /** The Deno version it carries. */
  denoVersion: string;
  /** The payload's sha256, lowercase hex (also the folder it extracts to). */
  sha256: string;
  /** The whole file, bytes. */
  sizeBytes: number;
  /** The `sh` header, bytes. */
  headerBytes: number;
  /** The compressed payload, bytes. */
  payloadBytes: number;
  /** The Deno binary, uncompressed bytes. */
  denoBytes: number;
  /** The bundle (`dist/*.js`), uncompressed bytes. */
  bundleBytes: number;
  /** The bundle alone, gzip-compressed as in the payload, bytes; the Deno binary's share is the rest. */
  bundleGzipBytes: number;
  /** The Deno flags the package runs the bundle with. */
  denoFlags: string[];
}

/**
 * The `deno run` flags of the `kiln` task in deno.json (what `deno task kiln` users run with), plus the
 * unstable features deno.json enables, since the package runs without a config file (`--no-config`).
 *
 * @throws {SyntaxError} when the task is not `deno run <flags> main.ts`.
 */
export function kilnTaskFlags(config: { tasks?: Record<string, string>; unstable?: string[] }): string[] {
  const task = config.tasks?.kiln ?? "";
  const words = task.trim().split(/\s+/);
  const end = words.indexOf("main.ts");
  if (words[0] !== "deno" || words[1] !== "run" || end < 0) {
    throw new SyntaxError(
      `Cannot read the kiln task of deno.json: expected "deno run <flags> main.ts", got "${task}"`,
    );
  }
  const flags = words.slice(2, end);
  for (const f of flags) {
    if (!/^--[a-z-]+(=[A-Za-z0-9_.,:/-]*)?$/.test(f)) {
      throw new SyntaxError(`Cannot use the kiln task's flag "${f}" in the package's sh header`);
    }
  }
  return [...flags, ...(config.unstable ?? []).map((u) => `--unstable-${u}`)];
}

/** The `sh` header for a payload, its length written into itself. */
export function header(o: { sha256: string; version: string; target: string; flags: string[] }): string {
  const flags = o.flags.map((f) => `'${f}'`).join(" ");
  const text = (skip: number) =>
    `#!/bin/sh
# Kiln ${o.version} for ${o.target}, in one file (docs/install.md): this POSIX sh header, then a gzip-compressed
# tar of the Deno binary and Kiln's bundle. The first run checks the payload's sha256 and extracts it to
# \${XDG_CACHE_HOME:-$HOME/.cache}/kiln/<sha256>/; every run then execs Deno on the bundle with the arguments
# given. Needs sh, tail, sha256sum, cut, gzip, tar, mkdir, mktemp, mv and rm.
set -eu
sha=${o.sha256}
skip=${skip}
self=$0
case $self in */*) ;; *) self=$(command -v -- "$self") || { echo "kiln: cannot find $0" >&2; exit 1; } ;; esac
if [ -n "\${XDG_CACHE_HOME:-}" ]; then cache=$XDG_CACHE_HOME/kiln
elif [ -n "\${HOME:-}" ]; then cache=$HOME/.cache/kiln
else echo "kiln: set HOME or XDG_CACHE_HOME: this file extracts itself under \\$XDG_CACHE_HOME/kiln or \\$HOME/.cache/kiln" >&2; exit 1
fi
dir=$cache/$sha
if [ ! -f "$dir/.complete" ]; then
  actual=$(tail -c +$((skip + 1)) -- "$self" | sha256sum | cut -d ' ' -f 1)
  if [ "$actual" != "$sha" ]; then
    echo "kiln: refusing to run $self: its payload's sha256 is $actual, its header expects $sha (the file is damaged or was changed: copy it again)" >&2
    exit 1
  fi
  mkdir -p -- "$cache"
  tmp=$(mktemp -d "$cache/.extract.XXXXXX")
  trap 'rm -rf -- "$tmp"' EXIT
  if ! tail -c +$((skip + 1)) -- "$self" | gzip -dc | tar -xf - -C "$tmp"; then
    echo "kiln: cannot extract $self into $tmp" >&2
    exit 1
  fi
  echo "$sha" > "$tmp/.complete"
  # Atomic: the tree appears complete or not at all. When a concurrent first run renamed its own first, mv
  # moves this one inside it instead; that copy is removed and theirs is used.
  mv -- "$tmp" "$dir" 2>/dev/null || true
  rm -rf -- "$dir/\${tmp##*/}" "$tmp"
  trap - EXIT
  if [ ! -f "$dir/.complete" ]; then
    echo "kiln: cannot extract into $dir: it exists but is not a complete extraction (remove it and run again)" >&2
    exit 1
  fi
fi
DENO_DIR=\${DENO_DIR:-$cache/deno}
export DENO_DIR
exec "$dir/deno" run --no-config --no-prompt ${flags} "$dir/kiln.js" "$@"
`;
  // The length includes its own digits: repeat until it is a fixed point (two or three rounds).
  for (let skip = 0;;) {
    const s = text(skip);
    const bytes = new TextEncoder().encode(s).length;
    if (bytes === skip) return s;
    skip = bytes;
  }
}

/** Writes the tar of `files` (name, bytes, mode), gzip-compressed, to `path`; returns sha256 and size. */
async function writePayload(
  path: string,
  files: { name: string; bytes: Uint8Array; mode: number }[],
): Promise<{ sha256: string; bytes: number }> {
  const pack = tar.pack();
  const mtime = new Date(0); // reproducible: the same inputs give the same payload and folder
  for (const f of files) {
    pack.entry({ name: f.name, size: f.bytes.length, mode: f.mode, mtime, uid: 0, gid: 0 }, f.bytes as never);
  }
  pack.finalize();
  const hash = createHash("sha256");
  let size = 0;
  const source = ReadableStream.from(pack as AsyncIterable<BufferSource>).pipeThrough(
    new CompressionStream("gzip"),
  );
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  for await (const chunk of source) {
    hash.update(chunk);
    size += chunk.length;
    let written = 0;
    while (written < chunk.length) written += await file.write(chunk.subarray(written));
  }
  return { sha256: hash.digest("hex"), bytes: size };
}

async function gzipSize(bytes: Uint8Array<ArrayBuffer>): Promise<number> {
  let n = 0;
  for await (
    const c of ReadableStream.from<BufferSource>([bytes]).pipeThrough(new CompressionStream("gzip"))
  ) {
    n += c.length;
  }
  return n;
}

/** Builds the package from `dist/`; returns what it wrote. */
export async function buildPackage(): Promise<PackageInfo> {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const flags = kilnTaskFlags(config);
  const dist = join(ROOT, "dist");
  const bundle: { name: string; bytes: Uint8Array; mode: number }[] = [];
  for await (const e of Deno.readDir(dist)) {
    if (e.isFile && e.name.endsWith(".js")) {
      bundle.push({ name: e.name, bytes: await Deno.readFile(join(dist, e.name)), mode: 0o644 });
    }
  }
  bundle.sort((a, b) => a.name.localeCompare(b.name));
  for (const name of ["kiln.js", "kiln_cli.js"]) {
    if (!bundle.some((f) => f.name === name)) {
      throw new Error(`Cannot package: "${join(dist, name)}" is missing (run deno task bundle first)`);
    }
  }
  const deno = await Deno.readFile(Deno.execPath());
  const target = `${Deno.build.os}-${Deno.build.arch}`;
  const name = `kiln-${target}.run`;
  const out = join(dist, name);
  const payloadPath = `${out}.payload-${crypto.randomUUID()}`;
  const tmp = `${out}.tmp-${crypto.randomUUID()}`;
  try {
    const payload = await writePayload(payloadPath, [...bundle, { name: "deno", bytes: deno, mode: 0o755 }]);
    const head = new TextEncoder().encode(
      header({ sha256: payload.sha256, version: config.version, target, flags }),
    );
    const body = await Deno.readFile(payloadPath);
    const whole = new Uint8Array(head.length + body.length);
    whole.set(head);
    whole.set(body, head.length);
    await Deno.writeFile(tmp, whole, { mode: 0o755, createNew: true });
    await Deno.chmod(tmp, 0o755);
    await Deno.rename(tmp, out);
    const info: PackageInfo = {
      file: name,
      version: config.version,
      denoVersion: Deno.version.deno,
      sha256: payload.sha256,
      sizeBytes: head.length + payload.bytes,
      headerBytes: head.length,
      payloadBytes: payload.bytes,
      denoBytes: deno.length,
      bundleBytes: bundle.reduce((n, f) => n + f.bytes.length, 0),
      bundleGzipBytes: await gzipSize(await concatTar(bundle)),
      denoFlags: flags,
    };
    await Deno.writeTextFile(`${out}.json`, JSON.stringify(info, null, 2) + "\n");
    return info;
  } finally {
    await Deno.remove(payloadPath).catch(() => {});
    await Deno.remove(tmp).catch(() => {});
  }
}

/** The bundle files alone as one tar, to measure their compressed share. */
async function concatTar(
  files: { name: string; bytes: Uint8Array; mode: number }[],
): Promise<Uint8Array<ArrayBuffer>> {
  const pack = tar.pack();
  for (const f of files) pack.entry({ name: f.name, size: f.bytes.length, mode: f.mode }, f.bytes as never);
  pack.finalize();
  const chunks: Uint8Array[] = [];
  for await (const c of pack as AsyncIterable<Uint8Array>) chunks.push(c);
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}

if (import.meta.main) {
  const info = await buildPackage();
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  console.log(
    `built dist/${info.file}: ${mb(info.sizeBytes)} (Deno ${info.denoVersion} ${
      mb(info.denoBytes)
    } and the bundle ` +
      `${mb(info.bundleBytes)} before compression; the bundle's share compressed ${
        mb(info.bundleGzipBytes)
      }), ` +
      `payload sha256 ${info.sha256}`,
  );
}
