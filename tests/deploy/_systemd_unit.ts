/**
 * Reads a systemd unit file the way systemd does for the keys Kiln's unit sets, and checks the hardening
 * that `deploy/kiln.service` promises (issue #21): a test fails when an option is dropped or widened.
 *
 * @module
 */

/** A unit's assignments: section → key → values, in order (systemd's list semantics, see `parseUnit`). */
export type Unit = Map<string, Map<string, string[]>>;

/**
 * Parses a unit file (systemd.syntax(7)): `[Section]` headers, `Key=value` lines, `#` and `;` comments,
 * lines continued by a trailing backslash. A key assigned twice keeps both values; an empty assignment
 * resets the key, as systemd does for list settings (`CapabilityBoundingSet=`).
 *
 * @throws {SyntaxError} for a line outside a section or without `=`, naming the line.
 */
export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | null = null;
  const lines = text.replace(/\\\n/g, " ").split("\n");
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = unit.get(header[1]!) ?? new Map();
      unit.set(header[1]!, section);
      return;
    }
    const eq = line.indexOf("=");
    if (section === null || eq < 1) {
      throw new SyntaxError(`Cannot parse unit line ${i + 1}: "${line}" is not Key=value inside a section`);
    }
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const s: Map<string, string[]> = section;
    if (value === "") s.set(key, []);
    else s.set(key, [...(s.get(key) ?? []), value]);
  });
  return unit;
}

/** The values of `key` in `section`, split on white space (list settings); empty when unset. */
export function listOf(unit: Unit, section: string, key: string): string[] {
  return (unit.get(section)?.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter((v) => v !== "");
}

/** The last value of `key` in `section` (scalar settings: the last assignment wins), or null. */
export function valueOf(unit: Unit, section: string, key: string): string | null {
  return unit.get(section)?.get(key)?.at(-1) ?? null;
}

const TRUE = new Set(["yes", "true", "on", "1"]);

/** Boolean-ish settings that must be on, and settings that must have exactly this value. */
const REQUIRED: readonly (readonly [key: string, value: string | "true"])[] = [
  ["Type", "simple"],
  ["User", "kiln"],
  ["Restart", "on-failure"],
  ["KillSignal", "SIGTERM"],
  ["StateDirectory", "kiln"],
  ["CacheDirectory", "kiln"],
  ["ProtectSystem", "strict"],
  ["ProtectHome", "true"],
  ["PrivateTmp", "true"],
  ["NoNewPrivileges", "true"],
  ["ProtectKernelTunables", "true"],
  ["ProtectKernelModules", "true"],
  ["ProtectControlGroups", "true"],
  ["RestrictNamespaces", "true"],
  ["LockPersonality", "true"],
  ["SystemCallArchitectures", "native"],
  ["SystemCallErrorNumber", "EPERM"],
];

/** List settings that must hold exactly this set (no more: widening fails as dropping does). */
const EXACT_SETS: readonly (readonly [key: string, values: readonly string[]])[] = [
  ["CapabilityBoundingSet", ["CAP_SYS_NICE"]],
  ["AmbientCapabilities", ["CAP_SYS_NICE"]],
  ["RestrictAddressFamilies", ["AF_UNIX", "AF_INET", "AF_INET6"]],
  ["SystemCallFilter", ["@system-service", "@pkey"]],
];

/** The package's command line under systemd (docs/install.md). */
export const EXEC_START = "/usr/local/bin/kiln-linux-x86_64.run run /etc/kiln/kiln.yaml --data /var/lib/kiln";

/**
 * What is wrong with the hardening of Kiln's unit, one sentence each; empty when nothing is. Checks the
 * `[Service]` settings of issue #21: the required options and values, the exact capability and address
 * family sets, a stop timeout of at least 30 s, the cache under `%C`, a real-time limit, writable paths
 * only under `/var/lib/kiln`, `/var/cache/kiln` or `/run/kiln`, and no `MemoryDenyWriteExecute` or
 * `RestrictRealtime` (V8's JIT and `SCHED_FIFO` would break).
 */
export function hardeningProblems(unit: Unit): string[] {
  const S = "Service";
  const problems: string[] = [];
  if (valueOf(unit, S, "ExecStart") !== EXEC_START) {
    problems.push(`ExecStart is "${valueOf(unit, S, "ExecStart")}", expected "${EXEC_START}"`);
  }
  for (const [key, want] of REQUIRED) {
    const got = valueOf(unit, S, key);
    const ok = want === "true" ? got !== null && TRUE.has(got.toLowerCase()) : got === want;
    if (!ok) problems.push(`${key} is ${got === null ? "missing" : `"${got}"`}, expected "${want}"`);
  }
  for (const [key, want] of EXACT_SETS) {
    const got = [...new Set(listOf(unit, S, key))].sort();
    if (got.join(" ") !== [...want].sort().join(" ")) {
      problems.push(`${key} is "${got.join(" ")}", expected exactly "${want.join(" ")}"`);
    }
  }
  const stop = /^(\d+)s?$/.exec(valueOf(unit, S, "TimeoutStopSec") ?? "");
  if (!stop || Number(stop[1]) < 30) {
    problems.push(
      `TimeoutStopSec is "${valueOf(unit, S, "TimeoutStopSec")}": at least 30 s for the snapshots`,
    );
  }
  if (!listOf(unit, S, "Environment").includes("XDG_CACHE_HOME=%C")) {
    problems.push("Environment lacks XDG_CACHE_HOME=%C: the package would extract outside CacheDirectory");
  }
  const rtprio = Number(valueOf(unit, S, "LimitRTPRIO") ?? "NaN");
  if (!(rtprio >= 1 && rtprio <= 99)) problems.push("LimitRTPRIO is not set to a real-time priority (1-99)");
  for (const path of listOf(unit, S, "ReadWritePaths")) {
    if (!/^-?\/(var\/lib\/kiln|var\/cache\/kiln|run\/kiln)(\/|$)/.test(path)) {
      problems.push(`ReadWritePaths opens "${path}" beyond Kiln's own directories`);
    }
  }
  const mdwe = valueOf(unit, S, "MemoryDenyWriteExecute");
  if (mdwe !== null && TRUE.has(mdwe.toLowerCase())) {
    problems.push("MemoryDenyWriteExecute is on: V8's JIT needs writable and executable memory");
  }
  const rt = valueOf(unit, S, "RestrictRealtime");
  if (rt !== null && TRUE.has(rt.toLowerCase())) {
    problems.push("RestrictRealtime is on: the realtime executor's SCHED_FIFO would be refused");
  }
  return problems;
}
