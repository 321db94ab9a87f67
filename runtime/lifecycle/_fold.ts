/**
 * The desired state of each module, folded from the record of accepted actions (`deployments`): whether it
 * is deployed, which version, whether an operator stopped it, and which action decided that. Private to
 * `runtime/lifecycle/`.
 *
 * @module
 */
import type { DeploymentRecord } from "../../snapshots/mod.ts";

/** One module's desired state. */
export interface ModuleDesire {
  /** Deployed (false: removed, over the API or from the manifest file). */
  present: boolean;
  /** The version it runs ({@linkcode DeploymentRecord.versionSeq}), null when the record names none. */
  versionSeq: number | null;
  sha256: string | null;
  /** False once an operator stopped it (until started again or redeployed). */
  enabled: boolean;
  /** Who set its version or presence: the manifest file at a start, or the API. */
  source: "manifest" | "api";
  /** The action that set its version or presence. */
  decidedBy: DeploymentRecord;
  /** The last operator stop or start since, if any. */
  control: DeploymentRecord | null;
}

/** Applies one accepted action to the modules' desired states (a `Map`: module names are the manifest's). */
export function applyDeployment(modules: Map<string, ModuleDesire>, row: DeploymentRecord): void {
  if (row.module === null) return; // the manifest file's own row
  const name = row.module;
  const st = modules.get(name);
  switch (row.action) {
    case "manifest": {
      const enabled = (row.entry as { enabled?: unknown } | null)?.enabled !== false;
      modules.set(name, {
        present: row.sha256 !== null,
        versionSeq: row.versionSeq,
        sha256: row.sha256,
        enabled,
        source: "manifest",
        decidedBy: row,
        control: null,
      });
      return;
    }
    case "deploy":
    case "replace":
    case "rollback":
      modules.set(name, {
        present: true,
        versionSeq: row.versionSeq,
        sha256: row.sha256,
        enabled: true,
        source: "api",
        decidedBy: row,
        control: null,
      });
      return;
    case "remove":
      modules.set(name, {
        present: false,
        versionSeq: st?.versionSeq ?? null,
        sha256: st?.sha256 ?? null,
        enabled: false,
        source: "api",
        decidedBy: row,
        control: null,
      });
      return;
    case "stop":
    case "start":
      if (st?.present) {
        st.enabled = row.action === "start";
        st.control = row;
      }
      return;
  }
}

/** The desired state of every module the record names, oldest action first. */
export function foldDeployments(rows: readonly DeploymentRecord[]): Map<string, ModuleDesire> {
  const modules = new Map<string, ModuleDesire>();
  for (const row of rows) applyDeployment(modules, row);
  return modules;
}

/** "deployed over the API by ci at 2026-...": how an action reads in a log line or a reason. */
export function describe(row: DeploymentRecord): string {
  const what = {
    manifest: row.sha256 === null ? "removed by the manifest file" : "set by the manifest file",
    deploy: "deployed over the API",
    replace: "replaced over the API",
    remove: "removed over the API",
    stop: "stopped over the API",
    start: "started over the API",
    rollback: "rolled back over the API",
  }[row.action];
  const versioned = row.action !== "remove" && row.action !== "stop" && row.action !== "start";
  const version = row.versionSeq === null || !versioned ? "" : ` (version ${row.versionSeq})`;
  const by = row.action === "manifest" ? "" : ` by "${row.actor}"`;
  return `${what}${version}${by} at ${row.at}`;
}
