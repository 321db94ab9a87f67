/**
 * The normalised form of a deployment the runtime executes: every default applied, every path resolved.
 * Built from a validated manifest by {@linkcode planDeployment}; the runtime never reads YAML.
 *
 * @module
 */
import { DEFAULT_LISTEN, type LoadedManifest, type Policy, type Schedule } from "./manifest/mod.ts";
import { POINT_DRIVERS, type PointDevices } from "../hal/drivers.ts";
import type { DevicePlanOptions } from "../hal/point_driver.ts";
import { EMBEDDED_CREDENTIALS_FILE } from "../hal/mqtt/_embedded_credentials.ts";
import { resolve } from "node:path";
import { type SysfsGpioConfig, toGpioConfig } from "../hal/gpio/mod.ts";
import { type AccountLimits, accountLimitsOf } from "./executor/account.ts";
import type { ProbationPlan } from "./_probation.ts";

/** How a module is invoked. */
export type SchedulePlan =
  | { mode: "stream"; source: string; window: number; hop: number; priority: number }
  | { mode: "periodic"; periodUs: number; priority: number }
  | { mode: "event"; trigger: string; priority: number };

/** What happens after a module crashes. */
export interface RestartPlan {
  policy: "always" | "on-failure" | "never";
  maxRestarts: number;
  backoffMs: number;
  maxBackoffMs: number;
}

/** When a module's memory is snapshotted (`persistence` with `snapshot: true`). */
export interface PersistencePlan {
  /** Handler calls after a cold start at which the warm-up snapshot is taken; null for none. */
  warmUpIterations: number | null;
  /** Seconds between periodic snapshots; null for none. */
  intervalS: number | null;
  /** Snapshots kept. */
  keep: number;
}

/** A data blob copied into the module's memory before `kiln_init`. */
export interface DataPlan {
  name: string;
  path: string;
  sha256: string | null;
}

/** One module of a deployment. */
export interface ModulePlan {
  name: string;
  /** Absolute path of the `.wasm` file. */
  wasm: string;
  sha256: string | null;
  maxMemoryMb: number;
  budgetUs: number;
  /**
   * Instructions a call may execute (`limits.fuel`, or the policy's `max_fuel` when the module sets none), or
   * null for no metering.
   */
  fuel: number | null;
  /**
   * The limits of the module's resource account (`limits.max_output_keys`, `publish_per_s`, ...: see
   * `executor/account.ts`), every default applied; left out (a plan built by hand), the defaults.
   */
  account?: AccountLimits;
  capabilities: string[];
  schedule: SchedulePlan;
  inputs: string[];
  /** `<kind>:<device>/<point>` targets of `kiln.actuate` (points of a point connector), in index order. */
  actuators: string[];
  /** `param_f64` values by key; a null-prototype record, as the keys are the manifest's. */
  params: Record<string, number>;
  data: DataPlan[];
  restart: RestartPlan;
  /**
   * Its signature bundle's path: the manifest's `signature`, else null (then `<wasm>.sig` when it exists).
   */
  signature?: string | null;
  /** A new version's probation after a deploy (`_probation.ts`); left out (a plan built by hand), the defaults. */
  probation?: ProbationPlan;
  /** Snapshots, or null when the module is not snapshotted. */
  persistence: PersistencePlan | null;
  enabled: boolean;
}

/** The gateway's signature policy (the manifest's `signatures:`), paths resolved. */
export interface SignaturesPlan {
  mode: "required" | "optional";
  trustedRoots: string[];
  crls: string[];
  requireCrls: boolean;
  allowDowngrade: boolean;
}

/** A simulated sensor of the built-in plant. */
export type SimSensorPlan =
  | { id: string; kind: "vibration"; rateHz: number; shaftHz?: number; fullScaleG?: number; seed?: number }
  | { id: string; kind: "temperature"; ambientC?: number; seed?: number };

/** A channel between modules: a shared-memory ring with one writer and its readers. */
export interface ChannelPlan {
  id: string;
  writer: string;
  readers: string[];
  sizeBytes: number;
  overflow: "drop-oldest" | "drop-newest" | "block-writer";
  blockTimeoutUs: number | null;
}

/** The MQTT uplink (`connectors.mqtt`), with file paths resolved against the manifest's directory. */
export interface MqttPlan {
  /** The broker's URL; with `embeddedPort`, the embedded broker's. */
  url: string | null;
  /** Run a broker inside Kiln on 127.0.0.1 at this port (0: any free port). */
  embeddedPort: number | null;
  /**
   * With `embeddedPort`, where the embedded broker's credentials are kept: `<data>/mqtt-embedded.json`, made
   * at the first start; null when the plan has no data directory (the broker then makes credentials that
   * live in memory only).
   */
  embeddedCredentialsFile: string | null;
  clientId: string;
  username: string | null;
  passwordFile: string | null;
  tls: { caFile: string | null; certFile: string | null; keyFile: string | null } | null;
  keepaliveS: number;
  connectTimeoutMs: number;
  backoffMs: number;
  maxBackoffMs: number;
  qos: 0 | 1 | 2;
  /** Keep the broker session across outages, so commands for `mqtt:` triggers are queued (`session`). */
  persistentSession: boolean;
  topics: { alerts: string; batch: string; status: string };
  /** Seconds between Mode C batches; 0 for none. */
  batchIntervalS: number;
  outbox: { diskBudgetBytes: number; drainRatePerS: number };
}

/**
 * The device policy's limits (`policy.max_*`, `policy.min_snapshot_interval_s`), which the manifest was
 * checked against: what a module may ask of this gateway. Shown to operators; a deploy is checked against the
 * manifest's policy, not against this copy.
 */
export interface PolicyLimitsPlan {
  maxPriority: number;
  maxBudgetUs: number;
  maxInitBudgetUs: number;
  maxMemoryMb: number;
  /** The most fuel a module may ask for, and what a module that asks for none is metered at; null for none. */
  maxFuel: number | null;
  maxBlockTimeoutUs: number;
  maxChannelBytes: number;
  minSnapshotIntervalS: number;
  maxModules: number;
  /** `policy.max_limits`: the most a module may set each resource account limit to, by its `limits` key. */
  maxLimits: Readonly<Record<string, number>>;
}

/**
 * A whole deployment. Besides the fields below, it has one for each point driver of `hal/drivers.ts`, named
 * after its kind ({@linkcode PointDevices}): the devices the runtime connects, in the manifest's order (the
 * Modbus devices it polls, the OPC UA endpoints it subscribes to).
 */
export interface DeploymentPlan extends PointDevices {
  device: { id: string; location: string | null; hardware?: string | null };
  /** Signed modules (`signatures:`); absent in plans built without a manifest: unsigned modules run. */
  signatures?: SignaturesPlan;
  /** The capability patterns of `policy.allow`. */
  policy: string[];
  /** The policy's limits; absent in plans built without a manifest (tests, benchmarks). */
  policyLimits?: PolicyLimitsPlan;
  sim: SimSensorPlan[];
  /** The MQTT uplink, or null for none. */
  mqtt: MqttPlan | null;
  /** The Linux GPIO bank (`connectors.gpio` with `backend: linux-sysfs`); absent or null: the simulated bank. */
  gpio?: SysfsGpioConfig | null;
  modules: ModulePlan[];
  channels: ChannelPlan[];
  listen: string;
  /** Serve `/metrics` without a token. */
  metricsPublic: boolean;
  /** The API's TLS certificate and key (absolute paths), or null for plain HTTP. */
  tls: { certFile: string; keyFile: string } | null;
  /** Run the `realtime` executor's thread at `SCHED_FIFO` with this priority; absent: normal policy. */
  realtimeFifoPriority?: number;
  /** Pin the runtime's thread and each executor's thread to these CPUs; absent: the kernel places them. */
  cpus?: ThreadCpus;
}

/** `scheduling.cpus` without its absent keys. */
function presentCpus(cpus: { [K in keyof ThreadCpus]?: number[] | undefined }): ThreadCpus {
  return Object.fromEntries(Object.entries(cpus).filter(([, v]) => v !== undefined)) as ThreadCpus;
}

/** CPUs per thread: the runtime's own and each executor's (`scheduling.cpus`). */
export interface ThreadCpus {
  runtime?: number[];
  realtime?: number[];
  normal?: number[];
}

/** Turns a validated, resolved manifest into the plan the runtime executes. */
export function planDeployment(
  manifest: LoadedManifest,
  options: { listen?: string; dataDir?: string } = {},
): DeploymentPlan {
  const sim: SimSensorPlan[] = Object.entries(manifest.connectors?.sim ?? {}).map(([id, s]) =>
    s.kind === "vibration"
      ? {
        id,
        kind: "vibration",
        rateHz: s.rate_hz,
        ...(s.shaft_hz !== undefined && { shaftHz: s.shaft_hz }),
        ...(s.full_scale_g !== undefined && { fullScaleG: s.full_scale_g }),
        ...(s.seed !== undefined && { seed: s.seed }),
      }
      : {
        id,
        kind: "temperature",
        ...(s.ambient_c !== undefined && { ambientC: s.ambient_c }),
        ...(s.seed !== undefined && { seed: s.seed }),
      }
  );
  const modules: ModulePlan[] = Object.entries(manifest.modules).map(([name, m]) => ({
    name,
    wasm: m.wasm.resolved,
    signature: m.signature === undefined ? null : resolve(manifest.dir, m.signature),
    sha256: m.sha256 ?? null,
    maxMemoryMb: m.limits.max_memory_mb,
    budgetUs: m.limits.budget_us,
    // A policy with max_fuel meters every module: one that asks for no fuel gets the ceiling.
    fuel: m.limits.fuel ?? manifest.policy.max_fuel ?? null,
    account: accountLimitsOf(m.limits),
    capabilities: [...m.capabilities],
    schedule: schedulePlan(m.schedule),
    inputs: [...m.inputs],
    actuators: [...m.actuators],
    params: Object.assign(Object.create(null) as Record<string, number>, m.params),
    data: Object.entries(m.data).map(([dataName, d]) => ({
      name: dataName,
      path: d.resolved,
      sha256: d.sha256 ?? null,
    })),
    restart: {
      policy: m.restart.policy,
      maxRestarts: m.restart.max_restarts,
      backoffMs: m.restart.backoff_ms,
      maxBackoffMs: m.restart.max_backoff_ms,
    },
    probation: {
      windowMs: m.probation.seconds * 1000,
      invocations: m.probation.invocations,
      maxWindowMs: m.probation.max_seconds * 1000,
      maxCrashes: m.probation.max_crashes,
      maxErrorRate: m.probation.max_error_rate,
      maxOverrunRate: m.probation.max_overrun_rate,
      p99Factor: m.probation.p99_factor,
      minCalls: m.probation.min_calls,
    },
    persistence: m.persistence.snapshot
      ? {
        warmUpIterations: m.persistence.warm_up_iterations ?? null,
        intervalS: m.persistence.snapshot_interval_s ?? null,
        keep: m.persistence.keep,
      }
      : null,
    enabled: m.enabled,
  }));
  const channels: ChannelPlan[] = Object.entries(manifest.channels).map(([id, c]) => ({
    id,
    writer: c.writer,
    readers: [...c.readers],
    sizeBytes: c.size_bytes,
    overflow: c.overflow,
    blockTimeoutUs: c.block_timeout_us ?? null,
  }));
  const m = manifest.connectors?.mqtt;
  const file = (p: string | undefined) => p === undefined ? null : resolve(manifest.dir, p);
  const mqtt: MqttPlan | null = m
    ? {
      url: m.url ?? null,
      embeddedPort: m.embedded?.port ?? null,
      embeddedCredentialsFile: m.embedded && options.dataDir !== undefined
        ? resolve(options.dataDir, EMBEDDED_CREDENTIALS_FILE)
        : null,
      clientId: m.client_id ?? `kiln-${manifest.device.id}`,
      username: m.username ?? null,
      passwordFile: file(m.password_file),
      tls: m.tls
        ? { caFile: file(m.tls.ca_file), certFile: file(m.tls.cert_file), keyFile: file(m.tls.key_file) }
        : null,
      keepaliveS: m.keepalive_s,
      connectTimeoutMs: m.connect_timeout_ms,
      backoffMs: m.backoff_ms,
      maxBackoffMs: m.max_backoff_ms,
      qos: m.qos,
      persistentSession: m.session === "persistent",
      topics: { ...m.topics },
      batchIntervalS: m.batch_interval_s,
      outbox: {
        diskBudgetBytes: Math.round(m.outbox.disk_budget_mb * 1024 * 1024),
        drainRatePerS: m.outbox.drain_rate_per_s,
      },
    }
    : null;
  return {
    ...planPointDevices(manifest, options.dataDir),
    mqtt,
    gpio: toGpioConfig(manifest.connectors?.gpio),
    channels,
    device: {
      id: manifest.device.id,
      location: manifest.device.location ?? null,
      hardware: manifest.device.hardware ?? null,
    },
    signatures: {
      mode: manifest.signatures.mode,
      trustedRoots: manifest.signatures.trusted_roots.map((p) => resolve(manifest.dir, p)),
      crls: manifest.signatures.crls.map((p) => resolve(manifest.dir, p)),
      requireCrls: manifest.signatures.require_crls,
      allowDowngrade: manifest.signatures.allow_downgrade,
    },
    policy: [...manifest.policy.allow],
    policyLimits: policyLimitsPlan(manifest.policy),
    sim,
    modules,
    listen: options.listen ?? manifest.api?.listen ?? DEFAULT_LISTEN,
    metricsPublic: manifest.api?.metrics_public ?? false,
    ...(manifest.scheduling.realtime_fifo_priority !== undefined &&
      { realtimeFifoPriority: manifest.scheduling.realtime_fifo_priority }),
    ...(manifest.scheduling.cpus !== undefined && { cpus: presentCpus(manifest.scheduling.cpus) }),
    tls: manifest.api?.tls
      ? {
        certFile: resolve(manifest.dir, manifest.api.tls.cert_file),
        keyFile: resolve(manifest.dir, manifest.api.tls.key_file),
      }
      : null,
  };
}

/** Each point driver's devices (`connectors.<kind>`), planned by the driver. */
function planPointDevices(manifest: LoadedManifest, dataDir: string | undefined): PointDevices {
  const connectors = (manifest.connectors ?? {}) as Readonly<Record<string, unknown>>;
  const options: DevicePlanOptions = {
    manifestDir: manifest.dir,
    // Resolved only when a driver reads it (OPC UA's PKI folder): nothing else of the plan needs it.
    get dataDir() {
      return resolve(dataDir ?? "./data");
    },
  };
  const devices = Object.fromEntries(POINT_DRIVERS.map((driver) => {
    // The kind is the registry's, and `connectors` a strict object of the schema's keys: no manifest's key.
    const configured = (connectors[driver.kind] ?? {}) as Readonly<Record<string, unknown>>;
    const planned = Object.entries(configured).map(([name, config]) => driver.plan(name, config, options));
    return [driver.kind, planned];
  }));
  return devices as PointDevices;
}

function policyLimitsPlan(p: Policy): PolicyLimitsPlan {
  return {
    maxPriority: p.max_priority,
    maxBudgetUs: p.max_budget_us,
    maxInitBudgetUs: p.max_init_budget_us,
    maxMemoryMb: p.max_memory_mb,
    maxFuel: p.max_fuel ?? null,
    maxBlockTimeoutUs: p.max_block_timeout_us,
    maxChannelBytes: p.max_channel_bytes,
    minSnapshotIntervalS: p.min_snapshot_interval_s,
    maxModules: p.max_modules,
    // The keys are the schema's own (a strict object), never a user's.
    maxLimits: Object.fromEntries(
      Object.entries(p.max_limits ?? {}).filter((e): e is [string, number] => e[1] !== undefined),
    ),
  };
}

function schedulePlan(s: Schedule): SchedulePlan {
  switch (s.mode) {
    case "stream":
      return { mode: "stream", source: s.source, window: s.window, hop: s.hop, priority: s.priority };
    case "periodic":
      return { mode: "periodic", periodUs: s.period_us, priority: s.priority };
    case "event":
      return { mode: "event", trigger: s.trigger, priority: s.priority };
  }
}
