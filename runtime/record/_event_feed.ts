/**
 * What drives an event module offline (`in_process.ts`): the events its trigger would bring, in simulated
 * time. A `channel:<id>` trigger whose writer is a stream or periodic module on the simulated plant gets its
 * records from that writer, run beside it as the gateway runs it (the demo's `temperature` writes the trip
 * records `safety` waits for); every other event (an API call, a GPIO edge, an MQTT command, or channel
 * records when the writer cannot run offline) comes from a user's events file, one JSON object a line
 * ({@linkcode parseEventsFile}). Private to `runtime/record/`.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";
import type { ChannelRing } from "../instance_spec.ts";
import type { DeploymentPlan, ModulePlan } from "../plan.ts";
import { EventKind, MAX_EVENT_BYTES, type ModuleInstance } from "../executor/instance.ts";
import { RingWriter } from "../executor/ring.ts";
import { ReplayError } from "./errors.ts";
import type { Feed } from "./_feeds.ts";

/** The kinds of event an events file names, as `kiln_on_event` receives them (ABI v1). */
export const EVENT_KINDS: ReadonlyMap<string, number> = new Map([
  ["api", EventKind.API],
  ["gpio", EventKind.GPIO],
  ["channel", EventKind.CHANNEL],
  ["mqtt", EventKind.MQTT],
]);

/** One event of an events file, in simulated time. */
export interface FedEvent {
  /** When it arrives, in milliseconds of the simulated plant's time. */
  atMs: number;
  kind: "api" | "gpio" | "channel" | "mqtt";
  payload: Uint8Array;
  /** Its line in the file, for errors. */
  line: number;
}

/** An events file (`kiln record --events`) that cannot be read as one, or names an event the module cannot get. */
export class EventsFileError extends KilnError {
  readonly code = "events_file_invalid";
  readonly kind = "invalid";
  constructor(
    readonly path: string,
    readonly line: number | null,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`Cannot use events file "${path}"${line === null ? "" : ` line ${line}`}: ${reason}`, options);
  }
}

const FIELDS = new Set(["at_ms", "kind", "payload", "payload_base64", "value"]);

/**
 * Parses an events file: one JSON object a line (blank lines and lines starting with `#` skipped),
 * `{"at_ms": 1500, "kind": "api", "payload": "{\"action\":\"reset\"}"}`. `at_ms` is the simulated time (a
 * non-negative number); `kind` is `api`, `gpio`, `mqtt` or `channel`; the payload is `payload` (text, sent as
 * UTF-8) or `payload_base64` (bytes), at most 4096 bytes; a `gpio` event gives `value` (0 or 1) instead and
 * its payload is the pin and level as the runtime sends them. Events are returned in time order (a stable
 * sort: equal times keep the file's order).
 *
 * @throws {EventsFileError} naming the line and what is wrong with it.
 */
export function parseEventsFile(text: string, path: string): FedEvent[] {
  const events: FedEvent[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === "" || raw.startsWith("#")) continue;
    const line = i + 1;
    const fail = (reason: string): never => {
      throw new EventsFileError(path, line, reason);
    };
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      throw new EventsFileError(path, line, `not JSON: ${(err as Error).message}`, { cause: err });
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      fail(`expected an object like {"at_ms": 1500, "kind": "api", "payload": "0"}`);
    }
    const o = new Map(Object.entries(parsed as object));
    for (const key of o.keys()) {
      if (!FIELDS.has(key)) fail(`unknown field "${key}" (known: ${[...FIELDS].join(", ")})`);
    }
    const atMs = o.get("at_ms");
    if (typeof atMs !== "number" || !Number.isFinite(atMs) || atMs < 0) {
      fail(`"at_ms" must be a non-negative number of milliseconds, got ${JSON.stringify(atMs)}`);
    }
    const kind = o.get("kind");
    if (typeof kind !== "string" || !EVENT_KINDS.has(kind)) {
      fail(`"kind" must be one of ${[...EVENT_KINDS.keys()].join(", ")}, got ${JSON.stringify(kind)}`);
    }
    let payload: Uint8Array;
    if (kind === "gpio") {
      if (o.has("payload") || o.has("payload_base64")) {
        fail(`a gpio event gives "value" (0 or 1), no payload`);
      }
      const value = o.get("value");
      if (value !== 0 && value !== 1) fail(`"value" must be 0 or 1, got ${JSON.stringify(value)}`);
      payload = new Uint8Array(4);
      new DataView(payload.buffer).setUint32(0, value as number, true);
    } else {
      if (o.has("value")) fail(`"value" is for gpio events; a ${kind} event gives "payload"`);
      const text = o.get("payload"), b64 = o.get("payload_base64");
      if ((text === undefined) === (b64 === undefined)) {
        fail(`give one of "payload" (text) or "payload_base64"`);
      }
      if (text !== undefined) {
        if (typeof text !== "string") fail(`"payload" must be a string, got ${JSON.stringify(text)}`);
        payload = new TextEncoder().encode(text as string);
      } else {
        if (typeof b64 !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
          fail(`"payload_base64" must be base64 text`);
        }
        payload = Uint8Array.from(atob(b64 as string), (c) => c.charCodeAt(0));
      }
    }
    if (payload!.length > MAX_EVENT_BYTES) {
      fail(`the payload of ${payload!.length} bytes is over the ${MAX_EVENT_BYTES}-byte event limit`);
    }
    events.push({ atMs: atMs as number, kind: kind as FedEvent["kind"], payload: payload!, line });
  }
  return events.toSorted((a, b) => a.atMs - b.atMs);
}

/**
 * The module writing the channel `target` is triggered by, when it can run offline (a stream or periodic
 * module); null when the trigger is not a channel or its writer is an event module.
 */
export function channelWriterOf(deployment: DeploymentPlan, target: ModulePlan): ModulePlan | null {
  const s = target.schedule;
  if (s.mode !== "event" || !s.trigger.startsWith("channel:")) return null;
  const channel = deployment.channels.find((c) => `channel:${c.id}` === s.trigger);
  const writer = deployment.modules.find((m) => m.name === channel?.writer);
  return writer === undefined || writer.schedule.mode === "event" ? null : writer;
}

/**
 * An event feed for `recorded`: each step advances `writer` (the channel's writer, fed by the plant) by one
 * of its steps, or without a writer jumps to the next event of the file; then delivers the file's events due
 * by then (the executor's loop takes events first), then the channel's waiting records (`kiln_on_event(3)`).
 * It is `done` when there is no writer and the file's events are all delivered.
 *
 * @throws {ReplayError} when the module's trigger gives it no event (no writer, no events file).
 * @throws {EventsFileError} when an event of the file is of a kind the module's trigger does not bring.
 */
export function eventFeed(
  target: ModulePlan,
  recorded: ModuleInstance,
  o: {
    writer: { plan: ModulePlan; feed: Feed } | null;
    events: readonly FedEvent[];
    eventsPath: string;
    channels: ReadonlyMap<string, ChannelRing>;
  },
): Feed {
  const s = target.schedule;
  if (s.mode !== "event") throw new ReplayError(target.name, "it is not an event module");
  const { writer, events } = o;
  const channelId = s.trigger.startsWith("channel:") ? s.trigger.slice("channel:".length) : null;
  if (writer === null && events.length === 0) {
    throw new ReplayError(
      target.name,
      `its trigger "${s.trigger}" has no source offline recording can run${
        channelId === null ? "" : " (the channel's writer is not a stream or periodic module)"
      }: give its events with an events file (kiln record --events FILE, one JSON object a line: ` +
        `{"at_ms": 1500, "kind": "api", "payload": "0"})`,
    );
  }
  // Which kinds reach this module in the gateway: API events always (POST /api/v1/modules/:name/event);
  // the others only through its trigger.
  let ring: RingWriter | null = null;
  for (const e of events) {
    const refuse = (why: string) => {
      throw new EventsFileError(
        o.eventsPath,
        e.line,
        `module "${target.name}" (trigger "${s.trigger}") ${why}`,
      );
    };
    if (e.kind === "gpio" && !/^gpio:pin_\d+$/.test(s.trigger)) refuse("gets no GPIO edges");
    if (e.kind === "mqtt" && !s.trigger.startsWith("mqtt:")) refuse("gets no MQTT commands");
    if (e.kind === "channel") {
      if (channelId === null) refuse("reads no channel");
      if (writer !== null) {
        refuse(`gets its channel records from "${writer.plan.name}", which runs offline beside it`);
      }
      ring ??= new RingWriter(o.channels.get(channelId!)!.buffer);
    }
  }
  const pin = /^gpio:pin_(\d+)$/.exec(s.trigger)?.[1];
  let next = 0;
  let simulatedMs = 0;
  let delivered = 0;
  const deliver = (untilMs: number) => {
    while (next < events.length && events[next]!.atMs <= untilMs) {
      const e = events[next++]!;
      delivered++;
      if (e.kind === "channel") {
        if (ring!.write(e.payload) !== "ok") {
          throw new EventsFileError(o.eventsPath, e.line, `the channel "${channelId}" refused the record`);
        }
        continue;
      }
      let payload = e.payload;
      if (e.kind === "gpio") {
        // The runtime's GPIO edge: pin and level, two little-endian u32 (`io/triggers.ts`).
        payload = new Uint8Array(8);
        new DataView(payload.buffer).setUint32(0, Number(pin), true);
        payload.set(e.payload, 4);
      }
      recorded.event(EVENT_KINDS.get(e.kind)!, payload);
    }
  };
  return {
    get simulatedMs() {
      return writer === null ? simulatedMs : writer.feed.simulatedMs;
    },
    get samples() {
      return (writer?.feed.samples ?? 0) + delivered;
    },
    get done() {
      return writer === null && next >= events.length;
    },
    fault: () => writer?.feed.fault(),
    step: () => {
      if (writer !== null) {
        writer.feed.step();
        deliver(writer.feed.simulatedMs);
      } else if (next < events.length) {
        simulatedMs = events[next]!.atMs;
        deliver(simulatedMs);
      }
      recorded.pollChannel(Number.MAX_SAFE_INTEGER);
    },
  };
}
