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
import { POINT_DRIVERS, pointDriver } from "../../hal/drivers.ts";
import type { PointDriver, PointOperation } from "../../hal/point_driver.ts";
import { validateTopicFilter } from "../../hal/mqtt/topics.ts";
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
  const devices = new Map<string, ReadonlyMap<string, Obj>>(
    POINT_DRIVERS.map((driver) => [
      driver.kind,
      new Map(entries(asObj(root.connectors)?.[driver.kind]).map(([id, d]) => [id, asObj(d) ?? {}])),
    ]),
  );
  const channels = Object.fromEntries(entries(root.channels));
  const modules = Object.fromEntries(entries(root.modules));

  const policy = checkPolicy(root, issues);
  const facts = new Map<string, ModuleFacts>();
  for (const [name, spec] of Object.entries(modules)) {
    facts.set(name, { grants: checkModuleCapabilities(name, asObj(spec), policy, issues) });
  }

  const mqtt = asObj(asObj(root.connectors)?.mqtt) !== undefined;
  const ctx: Context = { sensors, devices, mqtt, channels, facts, issues };
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
  /** Each point driver's devices by name, as written, by driver kind. */
  readonly devices: ReadonlyMap<string, ReadonlyMap<string, Obj>>;
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
    const options = { path: ["modules", name, "inputs", i], ctx, module: name, verb: "reads input" };
    const driver = pointDriver(kind);
    if (driver) checkPoint(driver, id, { ...options, operation: "read" });
    else checkSensor(id, "temperature", options);
  });
}

function checkActuators(name: string, raw: unknown, ctx: Context): void {
  if (!Array.isArray(raw)) return;
  raw.forEach((ref, i) => {
    if (typeof ref !== "string") return; // the schema reports it
    const [kind, id = ""] = splitRef(ref);
    const driver = pointDriver(kind);
    const path = ["modules", name, "actuators", i];
    if (driver) checkPoint(driver, id, { path, ctx, module: name, verb: "drives", operation: "write" });
  });
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

/**
 * A point reference `<kind>:<device>/<point>` (`ref` is the part after the colon): the device and the point
 * exist under `connectors.<kind>`, the point can be used so (a driver may refuse a write), and the module
 * holds the capability the driver names for it.
 */
function checkPoint(
  driver: PointDriver,
  ref: string,
  { path, ctx, module, verb, operation }: RefOptions & { readonly operation: PointOperation },
): void {
  const { kind, deviceNoun, pointNoun, pointsKey } = driver;
  const [device = "", pointId = ""] = ref.split("/");
  const devices = ctx.devices.get(kind) ?? new Map<string, Obj>();
  const spec = devices.get(device);
  if (!spec) {
    const known = [...devices.keys()];
    ctx.issues.push({
      path,
      message: `${kind} ${deviceNoun} "${device}" is not defined under connectors.${kind}` +
        (known.length === 0 ? "" : ` (defined: ${known.join(", ")})`),
    });
    return;
  }
  const list = spec[pointsKey];
  const points = Array.isArray(list) ? list.map(asObj) : [];
  const raw = points.find((p) => p?.id === pointId);
  if (!raw) {
    const known = points.map((p) => p?.id).filter((x) => typeof x === "string");
    ctx.issues.push({
      path,
      message: `${kind} ${deviceNoun} "${device}" has no ${pointNoun} "${pointId}"` +
        (known.length === 0 ? "" : ` (${pointNoun}s: ${known.join(", ")})`),
    });
    return;
  }
  const access = driver.pointAccess(raw, { device, operation });
  if (access === null) return; // the schema reports it
  if ("refusal" in access) {
    ctx.issues.push({ path, message: `"${kind}:${ref}" ${access.refusal}` });
    return;
  }
  if (!grants(ctx, module, access.capability)) {
    ctx.issues.push({
      path,
      message: `module "${module}" ${verb} "${kind}:${ref}" without the capability: ${
        addCapability(module, access.capability)
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
