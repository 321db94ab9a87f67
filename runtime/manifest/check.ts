/**
 * Checks that need the whole manifest: references between sections, capabilities, and the device policy's
 * limits (`_ceilings.ts`). They run on the raw document even when the schema found problems, each check
 * reading only the fields it needs and skipping what the schema already reports, so that one run lists every
 * mistake.
 *
 * @module
 */
import {
  type Capability,
  CapabilityError,
  covers,
  parseCapability,
  REFUSED_CAPABILITY_TYPES,
} from "../capabilities.ts";
import type { PathSegment, RawIssue } from "./_document.ts";
import { ENTITY_ID, INPUT_REF, ScheduleSchema } from "./schema.ts";
import { modbusCapability, ModbusPointSchema } from "../../hal/modbus/mod.ts";
import { validateTopicFilter } from "../../hal/mqtt/mod.ts";
import { opcuaCapability, OpcuaNodeSchema } from "../../hal/opcua/manifest.ts";
import { checkGpioPins } from "./_gpio_check.ts";
import { checkCeilings } from "./_ceilings.ts";

type Obj = Record<string, unknown>;

/** What the checks know about one module. */
interface ModuleFacts {
  /** Capabilities that parsed. */
  readonly grants: Capability[];
}

/** Runs every cross-section check on the manifest's raw data and returns the problems found. */
export function checkManifest(raw: unknown): RawIssue[] {
  const issues: RawIssue[] = [];
  const root = asObj(raw);
  if (root === undefined) return issues;
  // Entries whose names the schema refuses are left out, so that one bad name is one issue.
  const sensors = new Map<string, unknown>(
    entries(asObj(root.connectors)?.sim).map(([id, s]) => [id, asObj(s)?.kind]),
  );
  const modbus = new Map<string, Obj>(
    entries(asObj(root.connectors)?.modbus).map(([id, d]) => [id, asObj(d) ?? {}]),
  );
  const opcua = new Map<string, Obj>(
    entries(asObj(root.connectors)?.opcua).map(([id, d]) => [id, asObj(d) ?? {}]),
  );
  const channels = Object.fromEntries(entries(root.channels));
  const modules = Object.fromEntries(entries(root.modules));

  const policy = checkPolicy(root, issues);
  const facts = new Map<string, ModuleFacts>();
  for (const [name, spec] of Object.entries(modules)) {
    facts.set(name, { grants: checkModuleCapabilities(name, asObj(spec), policy, issues) });
  }

  const mqtt = asObj(asObj(root.connectors)?.mqtt) !== undefined;
  const ctx: Context = { sensors, modbus, opcua, mqtt, channels, facts, issues };
  for (const [name, spec] of Object.entries(modules)) {
    const module = asObj(spec);
    if (module === undefined) continue;
    checkSchedule(name, module.schedule, ctx);
    checkInputs(name, module.inputs, ctx);
    checkActuators(name, module.actuators, ctx);
  }
  for (const [id, spec] of Object.entries(channels)) checkChannel(id, asObj(spec), ctx);
  checkGpioPins(root, issues);
  checkCeilings(root, { requests: (module, capability) => grants(ctx, module, capability) }, issues);
  return issues;
}

interface Context {
  readonly sensors: ReadonlyMap<string, unknown>;
  /** Modbus devices by name, as written. */
  readonly modbus: ReadonlyMap<string, Obj>;
  /** OPC UA endpoints by name, as written. */
  readonly opcua: ReadonlyMap<string, Obj>;
  /** Whether `connectors.mqtt` is there. */
  readonly mqtt: boolean;
  readonly channels: Obj;
  readonly facts: ReadonlyMap<string, ModuleFacts>;
  readonly issues: RawIssue[];
}

/** Parses `policy.allow`; returns the parsed patterns, or `null` when one is invalid (no denials then). */
function checkPolicy(root: Obj, issues: RawIssue[]): Capability[] | null {
  const allow = asObj(root.policy)?.allow;
  if (!Array.isArray(allow)) return asObj(root.policy)?.allow === undefined ? [] : null;
  const parsed: Capability[] = [];
  let valid = true;
  allow.forEach((text, i) => {
    if (typeof text !== "string") {
      valid = false;
      return;
    }
    const capability = tryParse(text, ["policy", "allow", i], issues);
    if (capability === undefined) valid = false;
    else parsed.push(capability);
  });
  // A broken policy entry would make every module it was meant for look denied: report the entry only.
  return valid ? parsed : null;
}

function checkModuleCapabilities(
  name: string,
  module: Obj | undefined,
  policy: Capability[] | null,
  issues: RawIssue[],
): Capability[] {
  const grants: Capability[] = [];
  const list = module?.capabilities;
  if (!Array.isArray(list)) return grants;
  list.forEach((text, i) => {
    if (typeof text !== "string") return;
    const path = ["modules", name, "capabilities", i];
    const capability = tryParse(text, path, issues);
    if (capability === undefined) return;
    grants.push(capability);
    if (policy !== null && !policy.some((allowed) => covers(allowed, capability))) {
      issues.push({ path, message: `"${text}" is not allowed by the device policy` });
    }
  });
  return grants;
}

function tryParse(text: string, path: PathSegment[], issues: RawIssue[]): Capability | undefined {
  try {
    return parseCapability(text);
  } catch (err) {
    if (!(err instanceof CapabilityError)) throw err;
    const type = text.split(":")[1] ?? "";
    const message = REFUSED_CAPABILITY_TYPES.includes(type)
      ? `"${text}" is refused: filesystem capabilities are never granted (give a module files as "data" blobs)`
      : `"${text}" is not a valid capability: ${err.reason}`;
    issues.push({ path, message });
    return undefined;
  }
}

/** The message part that tells which capability to add to which module. */
function addCapability(module: string, capability: string): string {
  return `add "${capability}" to modules.${module}.capabilities`;
}

function grants(ctx: Context, module: string, capability: string): boolean {
  const requested = parseCapability(capability);
  return (ctx.facts.get(module)?.grants ?? []).some((granted) => covers(granted, requested));
}

function checkSchedule(name: string, raw: unknown, ctx: Context): void {
  const parsed = ScheduleSchema.safeParse(raw);
  if (!parsed.success) return; // the schema reports it
  const schedule = parsed.data;
  if (schedule.mode === "stream") {
    const path = ["modules", name, "schedule", "source"];
    const [kind, id = ""] = splitRef(schedule.source);
    if (kind === "sim") {
      checkSensor(id, "vibration", { path, ctx, module: name, verb: "streams" });
    } else {
      checkChannelRead(id, { path, ctx, module: name, verb: "streams from" });
    }
  } else if (schedule.mode === "event") {
    const path = ["modules", name, "schedule", "trigger"];
    const trigger = schedule.trigger;
    const [kind, rest = ""] = splitRef(trigger);
    if (trigger === "api") return;
    if (kind === "channel" && ENTITY_ID.test(rest)) {
      checkChannelRead(rest, { path, ctx, module: name, verb: "is triggered by" });
    } else if (kind === "gpio" && /^pin_(0|[1-9][0-9]{0,4})$/.test(rest)) {
      const needed = `read:gpio:${rest}`;
      if (!grants(ctx, name, needed)) {
        ctx.issues.push({
          path,
          message: `module "${name}" is triggered by "${trigger}" without the capability: ${
            addCapability(name, needed)
          }`,
        });
      }
    } else if (kind === "mqtt") {
      checkMqttTrigger(rest, { path, ctx, module: name, verb: "is triggered by" });
    } else {
      ctx.issues.push({
        path,
        message:
          `unknown trigger "${trigger}": expected "api", "channel:<id>", "gpio:pin_<n>" or "mqtt:<topic filter>"`,
      });
    }
  }
}

function checkInputs(name: string, raw: unknown, ctx: Context): void {
  if (!Array.isArray(raw)) return;
  raw.forEach((input, i) => {
    if (typeof input !== "string" || !INPUT_REF.test(input)) return; // the schema reports it
    const [kind, id = ""] = splitRef(input);
    const path = ["modules", name, "inputs", i];
    if (kind === "modbus") checkModbusPoint(id, { path, ctx, module: name, verb: "reads input" });
    else if (kind === "opcua") checkOpcuaNode(id, { path, ctx, module: name, verb: "reads input" }, "read");
    else checkSensor(id, "temperature", { path, ctx, module: name, verb: "reads input" });
  });
}

function checkActuators(name: string, raw: unknown, ctx: Context): void {
  if (!Array.isArray(raw)) return;
  raw.forEach((ref, i) => {
    if (typeof ref !== "string") return; // the schema reports it
    const options = { path: ["modules", name, "actuators", i], ctx, module: name, verb: "drives" };
    if (ref.startsWith("modbus:")) checkModbusPoint(ref.slice("modbus:".length), options, "write");
    else if (ref.startsWith("opcua:")) checkOpcuaNode(ref.slice("opcua:".length), options, "write");
  });
}

/** An `opcua:<endpoint>/<node>` reference: the endpoint and node exist, and the module may use it so. */
function checkOpcuaNode(
  ref: string,
  { path, ctx, module, verb }: RefOptions,
  operation: "read" | "write",
): void {
  const [endpoint = "", pointId = ""] = ref.split("/");
  const spec = ctx.opcua.get(endpoint);
  if (!spec) {
    const known = [...ctx.opcua.keys()];
    ctx.issues.push({
      path,
      message: `opcua endpoint "${endpoint}" is not defined under connectors.opcua` +
        (known.length === 0 ? "" : ` (defined: ${known.join(", ")})`),
    });
    return;
  }
  const nodes = Array.isArray(spec.nodes) ? spec.nodes.map(asObj) : [];
  const raw = nodes.find((n) => n?.id === pointId);
  if (!raw) {
    const known = nodes.map((n) => n?.id).filter((x) => typeof x === "string");
    ctx.issues.push({
      path,
      message: `opcua endpoint "${endpoint}" has no node "${pointId}"` +
        (known.length === 0 ? "" : ` (nodes: ${known.join(", ")})`),
    });
    return;
  }
  const node = OpcuaNodeSchema.safeParse(raw);
  if (!node.success) return; // the schema reports it
  let needed: string;
  try {
    needed = opcuaCapability(operation, endpoint, {
      nodeId: node.data.node_id,
      writable: node.data.writable,
    });
  } catch (err) {
    if (err instanceof TypeError) {
      ctx.issues.push({
        path,
        message: `"opcua:${ref}" is not writable: mark it writable: true under its endpoint`,
      });
    }
    return;
  }
  if (!grants(ctx, module, needed)) {
    ctx.issues.push({
      path,
      message: `module "${module}" ${verb} "opcua:${ref}" without the capability: ${
        addCapability(module, needed)
      }`,
    });
  }
}

/** An `mqtt:<filter>` trigger: the uplink exists, the filter is valid, and the module may read it. */
function checkMqttTrigger(filter: string, { path, ctx, module, verb }: RefOptions): void {
  if (!ctx.mqtt) {
    ctx.issues.push({ path, message: `an mqtt trigger needs connectors.mqtt (a broker to subscribe on)` });
    return;
  }
  try {
    validateTopicFilter(filter);
  } catch (err) {
    ctx.issues.push({ path, message: (err as Error).message });
    return;
  }
  const needed = `read:mqtt:${filter}`;
  if (!grants(ctx, module, needed)) {
    ctx.issues.push({
      path,
      message: `module "${module}" ${verb} "mqtt:${filter}" without the capability: ${
        addCapability(module, needed)
      }`,
    });
  }
}

/** A `modbus:<device>/<point>` reference: the device and point exist, and the module may read the point. */
function checkModbusPoint(
  ref: string,
  { path, ctx, module, verb }: RefOptions,
  operation: "read" | "write" = "read",
): void {
  const [device = "", pointId = ""] = ref.split("/");
  const spec = ctx.modbus.get(device);
  if (!spec) {
    const known = [...ctx.modbus.keys()];
    ctx.issues.push({
      path,
      message: `modbus device "${device}" is not defined under connectors.modbus` +
        (known.length === 0 ? "" : ` (defined: ${known.join(", ")})`),
    });
    return;
  }
  const points = Array.isArray(spec.points) ? spec.points.map(asObj) : [];
  const raw = points.find((p) => p?.id === pointId);
  if (!raw) {
    const known = points.map((p) => p?.id).filter((x) => typeof x === "string");
    ctx.issues.push({
      path,
      message: `modbus device "${device}" has no point "${pointId}"` +
        (known.length === 0 ? "" : ` (points: ${known.join(", ")})`),
    });
    return;
  }
  const point = ModbusPointSchema.safeParse(raw);
  if (!point.success) return; // the schema reports it
  let needed: string;
  try {
    needed = modbusCapability(operation, device, point.data);
  } catch (err) {
    if (err instanceof TypeError) {
      ctx.issues.push({
        path,
        message:
          `"modbus:${ref}" is read-only (${point.data.table}): only coils and holding registers can be driven`,
      });
    }
    return; // else a point past the address space: the schema reports it
  }
  if (!grants(ctx, module, needed)) {
    ctx.issues.push({
      path,
      message: `module "${module}" ${verb} "modbus:${ref}" without the capability: ${
        addCapability(module, needed)
      }`,
    });
  }
}

interface RefOptions {
  readonly path: PathSegment[];
  readonly ctx: Context;
  readonly module: string;
  /** How the module uses the resource, for the message: `streams`, `reads input`. */
  readonly verb: string;
}

const SENSOR_USE: Record<string, string> = {
  vibration: "stream sources must be vibration sensors (read a temperature sensor with inputs)",
  temperature: "inputs must be temperature sensors (stream a vibration sensor with schedule.source)",
};

function checkSensor(id: string, kind: string, { path, ctx, module, verb }: RefOptions): void {
  if (!ctx.sensors.has(id)) {
    const known = [...ctx.sensors.keys()];
    ctx.issues.push({
      path,
      message: `sim sensor "${id}" is not defined under connectors.sim` +
        (known.length === 0 ? "" : ` (defined: ${known.join(", ")})`),
    });
    return;
  }
  const actual = ctx.sensors.get(id);
  if (typeof actual === "string" && actual !== kind && Object.hasOwn(SENSOR_USE, actual)) {
    ctx.issues.push({ path, message: `"sim:${id}" is a ${actual} sensor; ${SENSOR_USE[kind]}` });
  }
  const needed = `read:sim:${id}`;
  if (!grants(ctx, module, needed)) {
    ctx.issues.push({
      path,
      message: `module "${module}" ${verb} "sim:${id}" without the capability: ${
        addCapability(module, needed)
      }`,
    });
  }
}

function checkChannelRead(id: string, { path, ctx, module, verb }: RefOptions): void {
  if (!Object.hasOwn(ctx.channels, id)) {
    ctx.issues.push({ path, message: `channel "${id}" is not defined under channels` });
    return;
  }
  // A listed reader's capability is checked with the channel, so that a missing one is reported once.
  const readers = asObj(ctx.channels[id])?.readers;
  const listed = Array.isArray(readers) && readers.includes(module);
  if (Array.isArray(readers) && !listed) {
    ctx.issues.push({
      path,
      message: `module "${module}" ${verb} channel "${id}" but is not in channels.${id}.readers`,
    });
  }
  const needed = `read:channel:${id}`;
  if (!listed && !grants(ctx, module, needed)) {
    ctx.issues.push({
      path,
      message: `module "${module}" ${verb} channel "${id}" without the capability: ${
        addCapability(module, needed)
      }`,
    });
  }
}

function checkChannel(id: string, channel: Obj | undefined, ctx: Context): void {
  if (channel === undefined) return;
  const check = (module: unknown, path: PathSegment[], operation: "read" | "write") => {
    if (typeof module !== "string" || !ENTITY_ID.test(module)) return; // the schema reports it
    if (!ctx.facts.has(module)) {
      ctx.issues.push({ path, message: `module "${module}" is not defined under modules` });
      return;
    }
    const needed = `${operation}:channel:${id}`;
    if (!grants(ctx, module, needed)) {
      const role = operation === "write" ? "writes" : "reads";
      ctx.issues.push({
        path,
        message: `module "${module}" ${role} channel "${id}" without the capability: ${
          addCapability(module, needed)
        }`,
      });
    }
  };
  check(channel.writer, ["channels", id, "writer"], "write");
  if (!Array.isArray(channel.readers)) return;
  const seen = new Set<unknown>();
  channel.readers.forEach((reader, i) => {
    const path = ["channels", id, "readers", i];
    if (seen.has(reader)) {
      ctx.issues.push({ path, message: `module "${String(reader)}" is listed twice` });
      return;
    }
    seen.add(reader);
    check(reader, path, "read");
  });
}

function splitRef(ref: string): [string, string?] {
  const colon = ref.indexOf(":");
  return colon < 0 ? [ref] : [ref.slice(0, colon), ref.slice(colon + 1)];
}

/** The entries of a mapping whose keys are valid ids. */
function entries(value: unknown): [string, unknown][] {
  return Object.entries(asObj(value) ?? {}).filter(([key]) => ENTITY_ID.test(key));
}

function asObj(value: unknown): Obj | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Obj : undefined;
}
