/**
 * What the runtime derives from a deployment for one module, without touching its state: the instance spec
 * an executor loads, the capability an actuator write needs, and the check that a module's sources and inputs
 * exist in this plant. Private to `runtime/`.
 *
 * @module
 */
import { modbusResource } from "../hal/modbus/mod.ts";
import { opcuaResource } from "../hal/opcua/manifest.ts";
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
 * What `kiln.actuate` on `id` (`modbus:<device>/<point>`, `opcua:<endpoint>/<node>`) needs: the capability
 * type and resource. An unknown point or a node that is not writable gets a resource no grant covers, so
 * every write to it is refused and audited.
 */
export function actuatorTarget(
  deployment: DeploymentPlan,
  id: string,
): { id: string; type: string; resource: string } {
  if (id.startsWith("opcua:")) {
    const [endpoint = "", nodeId = ""] = id.slice("opcua:".length).split("/");
    const node = deployment.opcua.find((e) => e.name === endpoint)?.nodes.find((n) => n.id === nodeId);
    return {
      id,
      type: "opcua",
      resource: node?.writable ? opcuaResource(endpoint, node.nodeId) : `${endpoint}/ns=0;s=__unknown__`,
    };
  }
  const [device = "", pointId = ""] = id.slice("modbus:".length).split("/");
  const point = deployment.modbus.find((d) => d.name === device)?.points.find((p) => p.id === pointId);
  return {
    id,
    type: "modbus",
    resource: point ? modbusResource(device, point) : `${device}/unknown/${pointId}`,
  };
}

/**
 * Refuses a module whose stream source or inputs are not sensors, Modbus points or OPC UA nodes of this plant.
 *
 * @throws {ModuleRejectedError} naming each missing one.
 */
export function checkPlantRefs(deployment: DeploymentPlan, plan: ModulePlan): void {
  const sensors = new Set(deployment.sim.map((s) => `sim:${s.id}`));
  const points = new Set([
    ...deployment.modbus.flatMap((d) => d.points.map((p) => `modbus:${d.name}/${p.id}`)),
    ...deployment.opcua.flatMap((e) => e.nodes.map((n) => `opcua:${e.name}/${n.id}`)),
  ]);
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
