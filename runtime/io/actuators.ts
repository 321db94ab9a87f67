/**
 * Carrying out modules' actuator writes on the runtime's thread, and timing the events that caused them.
 * GPIO pins change at once (a simulated pin an event handler drove from its executor has already changed,
 * and is only reported here); Modbus and OPC UA writes go to their connector asynchronously, each outcome
 * noted in the module's status (`actuators`) and a failure logged: a module never waits for the network.
 * Private to `runtime/`.
 *
 * @module
 */
import type { Connectors } from "./connectors.ts";
import type { ActuatorWrite } from "../executor/protocol.ts";
import type { ModuleSlot as Slot } from "../_slot.ts";
import type { SimPlant } from "./plant.ts";

/** What carrying out writes needs from the runtime. */
export interface ActuatorContext {
  slot(module: string): Slot | undefined;
  sources: Pick<SimPlant, "gpioDriven" | "setGpio">;
  connectors: Pick<Connectors, "driver">;
  log(line: string): void;
}

/** Carries out `writes`, in order. */
export function carryOut(writes: readonly ActuatorWrite[], ctx: ActuatorContext): void {
  for (const w of writes) {
    if (w.kind === "gpio") {
      if (w.drivenAt !== undefined) ctx.sources.gpioDriven(w.pin);
      else ctx.sources.setGpio(w.pin, w.value, "output");
      continue;
    }
    const a = ctx.slot(w.module)?.actuating(w.index, w.value);
    if (!a) continue;
    const slash = a.id.indexOf("/");
    const device = a.id.slice(0, slash);
    const point = a.id.slice(slash + 1);
    const connector = ctx.connectors.driver(device);
    if (!connector) {
      a.done(`no connector "${device}"`, true);
      continue;
    }
    connector.write(point, w.value).then(() => a.done("ok", false), (err: Error) => {
      a.done(err.message, true);
      ctx.log(`module ${w.module}: actuate ${a.id} = ${w.value} failed: ${err.message}`);
    });
  }
}

/**
 * Records, per module, the time from the event's trigger (`triggeredAt`, epoch ms) to its last write carried
 * out: the executor's time for a pin it drove itself, `now` for the rest.
 */
export function recordEventLatency(
  writes: readonly ActuatorWrite[],
  triggeredAt: number,
  now: number,
  ctx: Pick<ActuatorContext, "slot">,
): void {
  const doneAt = new Map<string, number>();
  for (const w of writes) {
    const at = w.kind === "gpio" && w.drivenAt !== undefined ? w.drivenAt : now;
    doneAt.set(w.module, Math.max(doneAt.get(w.module) ?? 0, at));
  }
  for (const [name, at] of doneAt) {
    ctx.slot(name)?.eventHandled((at - triggeredAt) * 1000);
  }
}
