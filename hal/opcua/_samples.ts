/**
 * The last value of each OPC UA node and its quality, by the rules in the module doc of `connector.ts`: the
 * server's StatusCode decides while the session that sent a value is up (Part 4 §7.34.1), a Bad notification
 * keeps the last value (Part 4 §7.7.1), and a value kept from a lost session turns `uncertain`, then `bad`
 * once it is older than the node's `stale_ms`, counted from the last moment it was known current (the loss
 * of the session that sent it) across any number of reconnects, until a session sends the node again; a node
 * that a later session's server refuses (`BadNodeIdUnknown`) is `bad` at once. Nothing is invented: a node
 * without a usable value has no sample.
 *
 * @module
 */
import { DataType, type DataValue } from "node-opcua-client";
import type { Clock, Quality, Sample } from "../mod.ts";
import { toNumber } from "./codec.ts";
import type { OpcuaNode } from "./config.ts";
import { type OpcuaError, OpcuaUnsupportedTypeError } from "./errors.ts";

/** What Kiln keeps of a node's value. */
interface Held {
  readonly value: number;
  /** The server's quality of the latest notification, or `bad` once a later session refused the node. */
  readonly quality: Quality;
  /** When the value arrived. */
  readonly atMs: number;
  /**
   * The last moment Kiln knew the value to be the node's current one: its arrival, then, as the session
   * that sent it reports changes, the moment that session was lost (`Infinity` while it is up).
   */
  readonly knownUntilMs: number;
  /** The session that sent it: older ones are aged. */
  readonly session: number;
}

/** Options of {@linkcode HeldSamples}. */
export interface HeldSamplesOptions {
  /** The connector's name, for errors. */
  readonly connector: string;
  /** Stamps values and ages them. */
  readonly clock: Clock;
  /** Counts an error: a value that is not numeric. */
  readonly fail: (err: OpcuaError) => void;
}

/** The last value of each node, by point id. */
export class HeldSamples {
  readonly #connector: string;
  readonly #clock: Clock;
  readonly #fail: (err: OpcuaError) => void;
  readonly #held = new Map<string, Held>();

  constructor(options: HeldSamplesOptions) {
    this.#connector = options.connector;
    this.#clock = options.clock;
    this.#fail = options.fail;
  }

  /** The point ids that have a value, as they are now. */
  ids(): string[] {
    return [...this.#held.keys()];
  }

  /**
   * The sample of `node`, or `null` before its first usable value. `liveSession` is the id of the link whose
   * session is up, `null` while none is.
   */
  get(node: OpcuaNode, liveSession: number | null): Sample | null {
    const held = this.#held.get(node.id);
    if (!held) return null;
    return { value: held.value, quality: this.#quality(held, node, liveSession), atMs: held.atMs };
  }

  /**
   * Session `session` was lost: the values it sent were current until now, and start aging from now. Values
   * kept from earlier sessions go on aging from their own losses: a reconnect does not make them younger.
   */
  sessionLost(session: number): void {
    const now = this.#clock.now();
    for (const [id, held] of this.#held) {
      if (held.session === session && held.knownUntilMs > now) {
        this.#held.set(id, { ...held, knownUntilMs: now });
      }
    }
  }

  /**
   * The server of a later session refused to monitor the node (it no longer has it: `BadNodeIdUnknown`, or
   * denies access): its value is `bad` from now on, until a session sends a usable one again.
   */
  refuse(nodeId: string): void {
    const held = this.#held.get(nodeId);
    if (held) this.#held.set(nodeId, { ...held, quality: "bad" });
  }

  /** A notification (Part 4 §7.22.2 DataChangeNotification) for one node from the session of link `session`. */
  notify(node: OpcuaNode, options: { readonly dataValue: DataValue; readonly session: number }): void {
    const { dataValue, session } = options;
    const severity = dataValue.statusCode.value >>> 30;
    const quality: Quality = severity === 0 ? "good" : severity === 1 ? "uncertain" : "bad";
    const previous = this.#held.get(node.id);
    const atMs = this.#clock.now();
    if (quality === "bad") {
      if (previous) this.#held.set(node.id, { ...previous, quality, session, knownUntilMs: Infinity });
      return;
    }
    const value = toNumber(dataValue.value);
    if (value === null) {
      this.#fail(
        new OpcuaUnsupportedTypeError(
          this.#connector,
          node.nodeId,
          DataType[dataValue.value.dataType] ?? "unknown",
        ),
      );
      if (previous) this.#held.set(node.id, { ...previous, quality: "bad", session, knownUntilMs: Infinity });
      return;
    }
    this.#held.set(node.id, { value, quality, atMs, session, knownUntilMs: Infinity });
  }

  #quality(held: Held, node: OpcuaNode, liveSession: number | null): Quality {
    if (held.quality === "bad") return "bad";
    const live = liveSession !== null && held.session === liveSession;
    if (live) return held.quality;
    // Not live: from a lost session, or from an earlier one while the current session has not sent the node
    // again yet. It ages from the last moment it was known current, however many sessions came since.
    const ageMs = this.#clock.now() - Math.min(held.knownUntilMs, this.#clock.now());
    return ageMs <= node.staleMs ? "uncertain" : "bad";
  }
}
