/**
 * What the runtime derives from a deployment for one module, without touching its state: the instance spec
 * an executor loads, the capability an actuator write needs, and the check that a module's sources and inputs
 * exist in this plant. Private to `runtime/`.
 *
 * @module
 */
import { devicesOf, POINT_DRIVERS, pointDriver } from "../hal/drivers.ts";
import { ModuleRejectedError } from "./errors.ts";
import type { LoadedModule } from "./loader.ts";
import type { ChannelPlan, DeploymentPlan, ModulePlan } from "./plan.ts";
import type { InstanceSpec } from "./executor/protocol.ts";
import { instantiationWrites } from "./_slot.ts";
import { initBudgetUs } from "./manifest/mod.ts";

/** A channel as the runtime holds it: its plan and its ring. */
export interface ChannelRing {
  plan: ChannelPlan;
  buffer: SharedArrayBuffer;
}

/** What {@linkcode instanceSpec} needs of the running runtime. */
export interface SpecContext {
  deployment: DeploymentPlan;
  channels: ReadonlyMap<string, ChannelRing>;
  /** The doorbell of the executor that runs `module` (a reader of a channel this module writes). */
  bellOf(module: string): SharedArrayBuffer;
  /** The runtime's clock origin, epoch ms (`kiln.now_us` counts from it in every executor). */
  clockOriginMs: number;
  /** Handler calls before the warm-up snapshot, or null when the module is not snapshotted. */
  warmUpIterations: number | null;
}

/** The spec an executor loads `plan` from. */
export function instanceSpec(plan: ModulePlan, loaded: LoadedModule, ctx: SpecContext): InstanceSpec {
  const s = plan.schedule;
  const sensor = s.mode === "stream" ? ctx.deployment.sim.find((x) => `sim:${x.id}` === s.source) : undefined;
  // No prototype: the keys are the manifest's (and `postMessage` makes it a plain object again, so the
  // executor checks own keys only).
  const params = Object.assign(Object.create(null) as Record<string, number>, plan.params);
  if (sensor?.kind === "vibration") {
    params["kiln.sample_rate_hz"] = sensor.rateHz;
    params["kiln.full_scale"] = sensor.fullScaleG ?? 16;
  }
  if (s.mode === "stream") {
    params["kiln.window"] = s.window;
    params["kiln.hop"] = s.hop;
  }
  if (s.mode === "periodic") params["kiln.period_us"] = s.periodUs;
  const channelWrites = [...ctx.channels.values()].filter((c) => c.plan.writer === plan.name).map((c) => ({
    id: c.plan.id,
    buffer: c.buffer,
    // Wake the readers' executors when a record is written (each executor's doorbell once).
    wake: [...new Set(c.plan.readers.map((r) => ctx.bellOf(r)))],
  }));
  const readRef = s.mode === "stream" ? s.source : s.mode === "event" ? s.trigger : "";
  const read = readRef.startsWith("channel:")
    ? ctx.channels.get(readRef.slice("channel:".length))
    : undefined;
  const channelRead = read && read.plan.readers.includes(plan.name)
    ? { id: read.plan.id, buffer: read.buffer, reader: read.plan.readers.indexOf(plan.name) }
    : null;
  return {
    channelWrites,
    channelRead,
    name: plan.name,
    mode: s.mode,
    source: s.mode === "stream" ? s.source : null,
    window: s.mode === "stream" ? s.window : 0,
    hop: s.mode === "stream" ? s.hop : 0,
    periodUs: s.mode === "periodic" ? s.periodUs : 0,
    priority: s.priority,
    budgetUs: plan.budgetUs,
    initBudgetUs: initBudgetUs(plan.budgetUs),
    fuel: plan.fuel,
    params,
    data: loaded.data,
    ...(plan.account && { account: plan.account }),
    capabilities: plan.capabilities,
    inputs: plan.inputs,
    functionNames: loaded.functionNames,
    clockOriginMs: ctx.clockOriginMs,
    warmUpIterations: ctx.warmUpIterations,
    actuators: plan.actuators.map((id) => actuatorTarget(ctx.deployment, id)),
    instantiationWrites: instantiationWrites(loaded),
  };
}

/**
 * What `kiln.actuate` on `id` (`<kind>:<device>/<point>`, a point of a point connector) needs: the capability
 * type and resource, as the point's driver names them. An unknown point, or one its driver says is not
 * writable, gets a resource no grant covers, so every write to it is refused and audited.
 */
export function actuatorTarget(
  deployment: DeploymentPlan,
  id: string,
): { id: string; type: string; resource: string } {
  const colon = id.indexOf(":");
  const type = colon < 0 ? "" : id.slice(0, colon);
  const [device = "", point = ""] = id.slice(colon + 1).split("/");
  const driver = pointDriver(type);
  // No driver: no capability of that type parses, so no grant covers any resource of it.
  if (!driver) return { id, type, resource: `${device}/${point}` };
  const planned = devicesOf(deployment, driver).find((d) => d.name === device) ?? null;
  return { id, type, resource: driver.writeResource({ device, point }, planned) };
}

/**
 * Refuses a module whose stream source or inputs are not sensors or points of this plant (of its point
 * connectors).
 *
 * @throws {ModuleRejectedError} naming each missing one.
 */
export function checkPlantRefs(deployment: DeploymentPlan, plan: ModulePlan): void {
  const sensors = new Set(deployment.sim.map((s) => `sim:${s.id}`));
  const points = new Set(
    POINT_DRIVERS.flatMap((driver) =>
      devicesOf(deployment, driver).flatMap((d) =>
        driver.pointIds(d).map((p) => `${driver.kind}:${d.name}/${p}`)
      )
    ),
  );
  const missing = [
    ...(plan.schedule.mode === "stream" && plan.schedule.source.startsWith("sim:") &&
        !sensors.has(plan.schedule.source)
      ? [plan.schedule.source]
      : []),
    ...plan.inputs.filter((i) => !sensors.has(i) && !points.has(i)),
  ];
  if (missing.length > 0) {
    throw new ModuleRejectedError(
      plan.name,
      missing.map((m) => `"${m}" is not a sensor or point of this plant`),
    );
  }
}
