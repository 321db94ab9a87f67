/**
 * The last value of each OPC UA node and its quality, by the rules in the module doc of `connector.ts`: the
 * server's StatusCode decides while the session that sent a value is up (Part 4 §7.34.1), a Bad notification
 * keeps the last value (Part 4 §7.7.1), and a value kept from a lost session turns `uncertain`, then `bad`
 * once the connection has been down for longer than the node's `stale_ms`. Nothing is invented: a node
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
  /** The server's quality of the latest notification. */
  readonly quality: Quality;
  readonly atMs: number;
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
  /** When the last session was lost; `null` while one is up or before the first. */
  #downSinceMs: number | null = null;

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

  /** A session is up: from now on its notifications decide. */
  sessionUp(): void {
    this.#downSinceMs = null;
  }

  /** The session was lost: the values it sent start aging. */
  sessionLost(): void {
    this.#downSinceMs = this.#clock.now();
  }

  /** A notification (Part 4 §7.22.2 DataChangeNotification) for one node from the session of link `session`. */
  notify(node: OpcuaNode, options: { readonly dataValue: DataValue; readonly session: number }): void {
    const { dataValue, session } = options;
    const severity = dataValue.statusCode.value >>> 30;
    const quality: Quality = severity === 0 ? "good" : severity === 1 ? "uncertain" : "bad";
    const previous = this.#held.get(node.id);
    const atMs = this.#clock.now();
    if (quality === "bad") {
      if (previous) this.#held.set(node.id, { ...previous, quality, session });
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
      if (previous) this.#held.set(node.id, { ...previous, quality: "bad", session });
      return;
    }
    this.#held.set(node.id, { value, quality, atMs, session });
  }

  #quality(held: Held, node: OpcuaNode, liveSession: number | null): Quality {
    if (held.quality === "bad") return "bad";
    const live = liveSession !== null && held.session === liveSession;
    if (live) return held.quality;
    const downMs = this.#clock.now() - (this.#downSinceMs ?? this.#clock.now());
    return downMs <= node.staleMs ? "uncertain" : "bad";
  }
}
