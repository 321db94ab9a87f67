/**
 * Event triggers: which running event modules an API call, a GPIO edge or an MQTT command reaches, and
 * handing each its event on the executor's fast path. MQTT commands that arrive while the runtime is still
 * starting (a persistent session delivers those queued during an outage right after connecting) are held
 * until its modules run. Private to `runtime/`.
 *
 * @module
 */
import type { Executor } from "../executor.ts";
import { EventKind, MAX_EVENT_BYTES, nowMs } from "../executor/instance.ts";
import type { ModuleSlot as Slot } from "../_slot.ts";
import type { Uplink } from "../uplink/uplink.ts";

/** MQTT commands held while the runtime starts; more are refused (counted) rather than kept in memory. */
const MAX_HELD_COMMANDS = 1000;

/** What routing events needs from the runtime. */
export interface TriggerContext {
  slots(): Iterable<Slot>;
  executor(name: string): Executor | undefined;
  log(line: string): void;
}

/** Routes events from their triggers to the event modules that wait for them. */
export class Triggers {
  #ctx: TriggerContext;
  /** Null once the runtime runs: commands are then delivered at once. */
  #held: { trigger: string; topic: string; payload: Uint8Array }[] | null = [];
  /** MQTT messages refused: over the event size limit, or over the hold while starting. */
  #mqttRefused = 0;

  constructor(ctx: TriggerContext) {
    this.#ctx = ctx;
  }

  /** MQTT commands refused so far. */
  get mqttRefused(): number {
    return this.#mqttRefused;
  }

  /** Subscribes `uplink` to the filter of every `mqtt:` trigger a module has. */
  async subscribe(uplink: Uplink): Promise<void> {
    const triggers = new Set<string>();
    for (const slot of this.#ctx.slots()) {
      const s = slot.plan.schedule;
      if (s.mode === "event" && s.trigger.startsWith("mqtt:")) triggers.add(s.trigger);
    }
    // All at once: each filter's handler is in place before any message arrives, even the ones a persistent
    // session's broker sends right after the connect.
    await Promise.all(
      [...triggers].map((trigger) =>
        uplink.subscribe(trigger.slice("mqtt:".length), (topic, payload) => {
          if (this.#held === null) this.#command(trigger, topic, payload);
          else if (this.#held.length < MAX_HELD_COMMANDS) this.#held.push({ trigger, topic, payload });
          else this.#mqttRefused++;
        })
      ),
    );
  }

  /** The runtime runs: delivers the commands held meanwhile, and every later one at once. */
  running(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const c of held) this.#command(c.trigger, c.topic, c.payload);
  }

  /** An MQTT message on a trigger's filter: an event for every running module with that trigger. */
  #command(trigger: string, topic: string, payload: Uint8Array): void {
    if (payload.length > MAX_EVENT_BYTES) {
      this.#mqttRefused++;
      this.#ctx.log(
        `mqtt: a ${payload.length}-byte message on ${topic} is over the ${MAX_EVENT_BYTES}-byte event limit; not delivered`,
      );
      return;
    }
    this.fire(trigger, EventKind.MQTT, payload);
  }

  /** A GPIO edge: an event (pin and level, two little-endian u32) for modules triggered by that pin. */
  gpioEdge(pin: number, value: number): void {
    const payload = new Uint8Array(8);
    const view = new DataView(payload.buffer);
    view.setUint32(0, pin, true);
    view.setUint32(4, value, true);
    this.fire(`gpio:pin_${pin}`, EventKind.GPIO, payload);
  }

  /**
   * Fires an event at every running event module whose trigger is `trigger` (`"api"`, `"gpio:pin_3"`), or
   * only at `only`, returning how many were fired at.
   */
  fire(trigger: string, kind: number, payload: Uint8Array, only?: string): number {
    const triggeredAt = nowMs();
    let n = 0;
    for (const slot of this.#ctx.slots()) {
      const s = slot.plan.schedule;
      if (s.mode !== "event" || s.trigger !== trigger || slot.state !== "running") continue;
      if (only !== undefined && slot.plan.name !== only) continue;
      this.#ctx.executor(slot.executor)?.sendEvent(slot.plan.name, kind, payload, triggeredAt);
      slot.triggered();
      n++;
    }
    return n;
  }
}
