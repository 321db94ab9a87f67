/**
 * Capabilities: what a module may touch, written `operation:type:resource` (`read:sim:vibration_1`,
 * `write:mqtt:plant/line1/alerts`, `read:modbus:plc1/hr/0-99`), and what it may use of the gateway itself:
 * `use:executor:realtime` places it on the `realtime` executor (event mode, or priority 70 and above), beside
 * the event handlers that carry emergency stops, so it is granted like any other capability.
 *
 * A capability string is parsed once into a structured {@linkcode Capability}; grants are then decided on the
 * structure, never on the text. A device policy (`policy.allow`) may use patterns: `*` as a whole resource
 * (`read:sim:*`), a trailing `*` segment for hierarchical resources (`read:modbus:plc1/*`,
 * `read:opcua:plc1/*`), `read:*:*` for every resource of an operation, and MQTT's own `+`/`#` wildcards in
 * topic filters. Filesystem types (`fs`, `file`) are recognised only to be refused: a module receives files
 * as the manifest's `data` blobs, nothing else.
 *
 * | type | resource | patterns |
 * |---|---|---|
 * | `gpio` | `pin_<n>` | `*` |
 * | `mqtt` | an MQTT 3.1.1 topic filter (§4.7) | `+`, `#`, `*` (= `#`) |
 * | `modbus` | `<device>/<table>/<n>` or `<device>/<table>/<from>-<to>`, table `hr`, `ir`, `co` or `di` | `*`, `<device>/*`, `<device>/<table>/*` |
 * | `opcua` | `<endpoint>/<nodeId>`, node id as OPC UA Part 6 §5.3.1.10 writes it (`ns=2;s=Temp`) | `*`, `<endpoint>/*` |
 * | `channel`, `sim` | `<id>` | `*` |
 * | `i2c` | `<bus>/<address>`, a 7-bit address (`0x48` or `72`) | `*`, `<bus>/*` |
 * | `spi` | `<bus>/<chip_select>` | `*`, `<bus>/*` |
 * | `executor` (operation `use` only) | `realtime` | `*` |
 *
 * @example Checking a module's request against a device policy
 * ```ts
 * import { covers, parseCapability } from "./capabilities.ts";
 *
 * const policy = parseCapability("read:modbus:plc1/hr/0-999");
 * covers(policy, parseCapability("read:modbus:plc1/hr/100-109")); // true
 * covers(policy, parseCapability("read:modbus:plc1/ir/100")); // false: another table
 * ```
 *
 * @module
 */
import { KilnError } from "../errors.ts";

/** A capability string could not be parsed, or names a type Kiln never grants. */
export class CapabilityError extends KilnError {
  readonly code = "capability_invalid";
  readonly kind = "invalid";
  /**
   * @param capability The capability (or resource) text as given.
   * @param reason Why it is invalid, e.g. `the resource must be "pin_<n>"`.
   */
  constructor(readonly capability: string, readonly reason: string, options?: ErrorOptions) {
    super(`Invalid capability "${capability}": ${reason}`, options);
  }
}

/** The operations a capability grants: `read` and `write` a resource, `use` a part of the gateway. */
export const CAPABILITY_OPERATIONS = ["read", "write", "use"] as const;
/** An operation: `read`, `write` or `use`. */
export type CapabilityOperation = typeof CAPABILITY_OPERATIONS[number];

/** The resource types a capability may name. */
export const CAPABILITY_TYPES = [
  "gpio",
  "mqtt",
  "modbus",
  "opcua",
  "channel",
  "sim",
  "i2c",
  "spi",
  "executor",
] as const;
/** A resource type. */
export type CapabilityType = typeof CAPABILITY_TYPES[number];

/** Executors a `use:executor:<name>` capability may name; only `realtime` is ever needed. */
export const GRANTED_EXECUTORS = ["realtime"] as const;

/**
 * The capability a module needs to run on the `realtime` executor (event mode, or a priority of 70 or more):
 * in the module's `capabilities` and covered by `policy.allow`.
 */
export const REALTIME_CAPABILITY = "use:executor:realtime";

/** Types that are recognised only to be refused: modules never get filesystem access. */
export const REFUSED_CAPABILITY_TYPES: readonly string[] = ["fs", "file"];

/** Modbus tables: holding registers, input registers, coils, discrete inputs. */
export const MODBUS_TABLES = ["hr", "ir", "co", "di"] as const;
/** A Modbus table. */
export type ModbusTable = typeof MODBUS_TABLES[number];

/**
 * Names of sim sensors, channels, Modbus devices, OPC UA endpoints and buses inside a capability:
 * lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 63 characters.
 */
export const RESOURCE_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The highest Modbus address: the PDU addresses data items 0 to 65535 (Modbus Application Protocol v1.1b3 §4.4). */
const MODBUS_MAX_ADDRESS = 65535;

/**
 * The resource part of a parsed capability, by type. `null` fields are wildcards; a `modbus` wildcard device
 * or table comes with the full range `0`–`65535`.
 */
export type CapabilityResource =
  | { readonly type: "*" }
  | { readonly type: "gpio"; readonly pin: number | null }
  | { readonly type: "mqtt"; readonly filter: string }
  | {
    readonly type: "modbus";
    readonly device: string | null;
    readonly table: ModbusTable | null;
    readonly from: number;
    readonly to: number;
  }
  | { readonly type: "opcua"; readonly endpoint: string | null; readonly nodeId: string | null }
  | { readonly type: "channel" | "sim"; readonly id: string | null }
  | { readonly type: "i2c"; readonly bus: string | null; readonly address: number | null }
  | { readonly type: "spi"; readonly bus: string | null; readonly chipSelect: number | null }
  | { readonly type: "executor"; readonly executor: typeof GRANTED_EXECUTORS[number] | null };

/** A parsed capability: its operation, its structured resource, and the text it was parsed from. */
export type Capability = CapabilityResource & {
  readonly operation: CapabilityOperation;
  /** The capability as written, e.g. `"read:sim:vibration_1"`. */
  readonly text: string;
};

/**
 * Parses `operation:type:resource` into a {@linkcode Capability}. Patterns (`*`, MQTT wildcards) are accepted;
 * whether a pattern may be granted is the caller's policy.
 *
 * @throws {CapabilityError} when the text is malformed, names an unknown operation or type, or a filesystem
 * type (`fs`, `file`), which is always refused.
 * @throws {TypeError} when `text` is not a string.
 */
export function parseCapability(text: string): Capability {
  if (typeof text !== "string") throw new TypeError(`A capability must be a string, got ${typeof text}`);
  const first = text.indexOf(":");
  const second = first < 0 ? -1 : text.indexOf(":", first + 1);
  if (second < 0) {
    throw new CapabilityError(text, `expected "operation:type:resource", e.g. "read:sim:vibration_1"`);
  }
  const operation = text.slice(0, first);
  const type = text.slice(first + 1, second);
  const resource = text.slice(second + 1);
  if (!isOneOf(CAPABILITY_OPERATIONS, operation)) {
    throw new CapabilityError(text, `unknown operation "${operation}": expected "read", "write" or "use"`);
  }
  if (REFUSED_CAPABILITY_TYPES.includes(type)) {
    throw new CapabilityError(
      text,
      `filesystem access is never granted; give a module files as "data" blobs in the manifest`,
    );
  }
  if (type === "*") {
    if (resource !== "*") throw new CapabilityError(text, `a "*" type needs a "*" resource`);
    return { operation, text, type: "*" };
  }
  if (!isOneOf(CAPABILITY_TYPES, type)) {
    throw new CapabilityError(text, `unknown type "${type}": expected one of ${CAPABILITY_TYPES.join(", ")}`);
  }
  // Executors are used, never read or written; resources are read or written, never used.
  if ((operation === "use") !== (type === "executor")) {
    throw new CapabilityError(
      text,
      operation === "use"
        ? `only executors are used ("use:executor:realtime"), "${type}" is read or written`
        : `an executor is used, not ${operation === "read" ? "read" : "written"}: "use:executor:${resource}"`,
    );
  }
  return { operation, text, ...parseResource(type, resource, { text, patterns: true }) };
}

/**
 * True when every resource `requested` names is also named by `granted`, for the same operation: modbus
 * ranges must lie inside the granted range, an MQTT filter must match only topics the granted filter matches,
 * other types compare exactly or through a `*`.
 *
 * @example
 * ```ts
 * import { covers, parseCapability } from "./capabilities.ts";
 *
 * covers(parseCapability("write:mqtt:plant/#"), parseCapability("write:mqtt:plant/+/alerts")); // true
 * covers(parseCapability("write:mqtt:plant/+/alerts"), parseCapability("write:mqtt:plant/#")); // false
 * ```
 */
export function covers(granted: Capability, requested: Capability): boolean {
  if (granted.operation !== requested.operation) return false;
  return resourceCovers(granted, requested);
}

/**
 * True when `granted` names the concrete `resource` (the part after `operation:type:`), for checks at call time:
 * an MQTT topic name against a filter, a register or register range against a range. Operations are not
 * compared: the caller knows which operation it performs.
 *
 * @throws {CapabilityError} when `resource` is not a valid concrete resource of `granted`'s type (an MQTT topic
 * name with wildcards, a register address past 65535, a pattern).
 */
export function matchesResource(granted: Capability, resource: string): boolean {
  if (granted.type === "*") return true;
  const concrete = parseResource(granted.type, resource, { text: resource, patterns: false });
  return resourceCovers(granted, concrete);
}

/**
 * True when the MQTT topic filter `outer` matches every topic that `inner` matches (MQTT 3.1.1 §4.7).
 * Both must be valid filters.
 */
export function mqttFilterCovers(outer: string, inner: string): boolean {
  const a = outer.split("/");
  const b = inner.split("/");
  // §4.7.2: a filter starting with a wildcard does not match topics starting with "$".
  const innerSystem = (b[0] ?? "").startsWith("$");
  for (let i = 0; i < a.length; i++) {
    const level = a[i];
    if (level === "#") return !(i === 0 && innerSystem); // §4.7.1.2: "#" also matches the parent level
    if (i >= b.length) return false;
    if (b[i] === "#") return false;
    if (level === "+") {
      if (i === 0 && innerSystem) return false;
      continue;
    }
    if (level !== b[i]) return false;
  }
  return a.length === b.length;
}

function resourceCovers(granted: CapabilityResource, requested: CapabilityResource): boolean {
  if (granted.type === "*") return true;
  switch (granted.type) {
    case "gpio":
      return requested.type === "gpio" && (granted.pin === null || granted.pin === requested.pin);
    case "mqtt":
      return requested.type === "mqtt" && mqttFilterCovers(granted.filter, requested.filter);
    case "modbus":
      return requested.type === "modbus" &&
        (granted.device === null || granted.device === requested.device) &&
        (granted.table === null || granted.table === requested.table) &&
        granted.from <= requested.from && requested.to <= granted.to;
    case "opcua":
      return requested.type === "opcua" &&
        (granted.endpoint === null ||
          (granted.endpoint === requested.endpoint &&
            (granted.nodeId === null || granted.nodeId === requested.nodeId)));
    case "channel":
    case "sim":
      return requested.type === granted.type && (granted.id === null || granted.id === requested.id);
    case "i2c":
      return requested.type === "i2c" &&
        (granted.bus === null ||
          (granted.bus === requested.bus &&
            (granted.address === null || granted.address === requested.address)));
    case "spi":
      return requested.type === "spi" &&
        (granted.bus === null ||
          (granted.bus === requested.bus &&
            (granted.chipSelect === null || granted.chipSelect === requested.chipSelect)));
    case "executor":
      return requested.type === "executor" &&
        (granted.executor === null || granted.executor === requested.executor);
  }
}

interface ResourceOptions {
  /** The text to name in errors. */
  text: string;
  /** Whether `*` patterns and MQTT wildcards are accepted. */
  patterns: boolean;
}

function parseResource(
  type: CapabilityType,
  resource: string,
  options: ResourceOptions,
): Exclude<CapabilityResource, { type: "*" }> {
  const fail = (reason: string): never => {
    throw new CapabilityError(options.text, reason);
  };
  if (resource === "") fail("the resource is empty");
  const any = resource === "*";
  if (any && !options.patterns) fail(`"*" is a pattern, not a concrete resource`);
  switch (type) {
    case "gpio": {
      if (any) return { type, pin: null };
      const match = /^pin_(0|[1-9][0-9]{0,4})$/.exec(resource);
      if (!match) return fail(`a gpio resource must be "pin_<n>", e.g. "pin_3"`);
      return { type, pin: Number(match[1]) };
    }
    case "mqtt":
      return { type, filter: any ? "#" : parseMqttFilter(resource, options, fail) };
    case "modbus":
      return parseModbus(resource, options, fail);
    case "opcua": {
      if (any) return { type, endpoint: null, nodeId: null };
      const slash = resource.indexOf("/");
      if (slash < 0) return fail(`an opcua resource must be "<endpoint>/<nodeId>", e.g. "plc1/ns=2;s=Temp"`);
      const endpoint = parseId(resource.slice(0, slash), "endpoint", fail);
      const node = resource.slice(slash + 1);
      if (node === "*" && options.patterns) return { type, endpoint, nodeId: null };
      return { type, endpoint, nodeId: parseNodeId(node, fail) };
    }
    case "channel":
    case "sim":
      return { type, id: any ? null : parseId(resource, type === "sim" ? "sim sensor" : "channel", fail) };
    case "i2c":
    case "spi": {
      if (any) {
        return type === "i2c" ? { type, bus: null, address: null } : { type, bus: null, chipSelect: null };
      }
      const parts = resource.split("/");
      const what = type === "i2c" ? "<bus>/<address>" : "<bus>/<chip_select>";
      if (parts.length !== 2) return fail(`an ${type} resource must be "${what}"`);
      const bus = parseId(parts[0] ?? "", "bus", fail);
      const last = parts[1] ?? "";
      if (last === "*" && options.patterns) {
        return type === "i2c" ? { type, bus, address: null } : { type, bus, chipSelect: null };
      }
      if (type === "i2c") {
        // A 7-bit address (I2C-bus specification UM10204 §3.1.10); 10-bit addressing is not supported.
        const address = /^0x[0-9a-f]{1,2}$/i.test(last) ? parseInt(last, 16) : parseDecimal(last);
        if (address === null || address > 0x7f) return fail(`the i2c address "${last}" is not 0x00..0x7f`);
        return { type, bus, address };
      }
      const chipSelect = parseDecimal(last);
      if (chipSelect === null || chipSelect > 255) return fail(`the chip select "${last}" is not 0..255`);
      return { type, bus, chipSelect };
    }
    case "executor": {
      if (any) return { type, executor: null };
      // The normal executor needs no grant, so only a grant that means something can be written.
      if (!isOneOf(GRANTED_EXECUTORS, resource)) {
        return fail(`the executor "${resource}" is not one a module is granted: expected "realtime"`);
      }
      return { type, executor: resource };
    }
  }
}

function parseModbus(
  resource: string,
  options: ResourceOptions,
  fail: (reason: string) => never,
): Extract<CapabilityResource, { type: "modbus" }> {
  const full = { type: "modbus", from: 0, to: MODBUS_MAX_ADDRESS } as const;
  if (resource === "*") return { ...full, device: null, table: null };
  const parts = resource.split("/");
  const shape = `a modbus resource must be "<device>/<table>/<from>-<to>" or "<device>/<table>/<n>"`;
  if (parts.length < 2 || parts.length > 3) fail(shape);
  const device = parseId(parts[0] ?? "", "device", fail);
  if (parts.length === 2) {
    if (parts[1] === "*" && options.patterns) return { ...full, device, table: null };
    return fail(shape);
  }
  const table = parts[1] ?? "";
  if (!isOneOf(MODBUS_TABLES, table)) {
    return fail(`unknown modbus table "${table}": expected hr, ir, co or di`);
  }
  const range = parts[2] ?? "";
  if (range === "*" && options.patterns) return { ...full, device, table };
  const match = /^([0-9]+)(?:-([0-9]+))?$/.exec(range);
  if (!match) return fail(shape);
  const from = parseDecimal(match[1] ?? "");
  const to = match[2] === undefined ? from : parseDecimal(match[2]);
  if (from === null || to === null || from > MODBUS_MAX_ADDRESS || to > MODBUS_MAX_ADDRESS) {
    return fail(`modbus addresses are 0..65535 (protocol addresses, not 40001-style reference numbers)`);
  }
  if (from > to) return fail(`the range ${range} is empty: ${from} is greater than ${to}`);
  return { type: "modbus", device, table, from, to };
}

/** Validates an MQTT 3.1.1 topic filter (§4.7), or a topic name when patterns are off (§4.7.1). */
function parseMqttFilter(filter: string, options: ResourceOptions, fail: (reason: string) => never): string {
  if (filter.includes("\u0000")) fail("MQTT topics must not contain the null character (MQTT 3.1.1 §4.7.3)");
  if (!filter.isWellFormed()) fail("MQTT topics must be well-formed UTF-8 (MQTT 3.1.1 §1.5.3)");
  if (new TextEncoder().encode(filter).length > 65535) fail("MQTT topics are at most 65535 bytes (§4.7.3)");
  const levels = filter.split("/");
  levels.forEach((level, i) => {
    const wildcard = level.includes("#") || level.includes("+");
    if (wildcard && !options.patterns) {
      fail(`a topic name must not contain the wildcards "+" or "#" (MQTT 3.1.1 §4.7.1)`);
    }
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      fail(`"#" must be a whole level and the last one, e.g. "plant/#" (MQTT 3.1.1 §4.7.1.2)`);
    }
    if (level.includes("+") && level !== "+") {
      fail(`"+" must be a whole level, e.g. "plant/+/temp" (MQTT 3.1.1 §4.7.1.3)`);
    }
    if (level.includes("*")) fail(`use the MQTT wildcards "+" and "#" in topics, not "*"`);
  });
  return filter;
}

/**
 * Validates an OPC UA node id in its string form (OPC UA Part 6 §5.3.1.10): `ns=<index>;<i|s|g|b>=<value>`,
 * `ns=0;` may be left out. Returns it with a redundant `ns=0;` removed, so equal ids compare equal.
 */
function parseNodeId(text: string, fail: (reason: string) => never): string {
  const match = /^(?:ns=(0|[1-9][0-9]{0,4});)?([isgb])=(.+)$/s.exec(text);
  const shape = `"${text}" is not an OPC UA node id such as "ns=2;s=Temp" or "i=2258"`;
  if (!match) return fail(shape);
  const ns = Number(match[1] ?? "0");
  const kind = match[2];
  const value = match[3] ?? "";
  if (ns > 65535) fail(`the namespace index ${ns} is past 65535`);
  if (kind === "i" && (parseDecimal(value) === null || Number(value) > 0xffffffff)) fail(shape);
  if (kind === "g" && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) {
    fail(shape);
  }
  if (kind === "b" && !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) fail(shape);
  return ns === 0 ? `${kind}=${value}` : `ns=${ns};${kind}=${value}`;
}

function parseId(text: string, what: string, fail: (reason: string) => never): string {
  if (!RESOURCE_ID.test(text)) {
    fail(
      `the ${what} name "${text}" must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  return text;
}

/** A non-negative decimal integer without sign or leading zeros, or null. */
function parseDecimal(text: string): number | null {
  return /^(0|[1-9][0-9]{0,9})$/.test(text) ? Number(text) : null;
}

function isOneOf<T extends string>(values: readonly T[], value: string): value is T {
  return (values as readonly string[]).includes(value);
}

/**
 * Whether the capability string `wide` covers `narrow` by {@linkcode covers}'s rule; a string that does not
 * parse covers nothing (a signed module's attested capabilities against the manifest's grants).
 */
export function capabilityTextCovers(wide: string, narrow: string): boolean {
  try {
    return covers(parseCapability(wide), parseCapability(narrow));
  } catch (err) {
    if (err instanceof CapabilityError) return false;
    throw err;
  }
}
