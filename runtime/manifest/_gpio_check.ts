/**
 * Cross-section checks of a Linux GPIO bank (`connectors.gpio` with `backend: linux-sysfs`): every pin a
 * module's trigger or gpio capability names must be one of the bank's pins, and a pin it may write must be
 * an output line. The simulated bank has pins 0 to 31 whatever the manifest says, and is not checked here.
 *
 * @module
 */
import { CapabilityError, parseCapability } from "../capabilities.ts";
import type { RawIssue } from "./_document.ts";
import { ENTITY_ID } from "./schema.ts";
import { GPIO_PIN_KEY } from "../../hal/gpio/mod.ts";

type Obj = Record<string, unknown>;

/** Adds an issue for each trigger or gpio capability naming a pin the Linux bank lacks, or writing an input. */
export function checkGpioPins(root: Obj, issues: RawIssue[]): void {
  const gpio = asObj(asObj(root.connectors)?.gpio);
  if (gpio?.backend !== "linux-sysfs") return;
  const pins = new Map<number, unknown>(
    Object.entries(asObj(gpio.pins) ?? {})
      .filter(([pin]) => GPIO_PIN_KEY.test(pin))
      .map(([pin, p]) => [Number(pin), asObj(p)?.direction]),
  );
  const known = [...pins.keys()].sort((a, b) => a - b).join(", ") || "none";
  const missing = (pin: number) => `connectors.gpio configures no pin ${pin} (pins: ${known})`;
  for (const [name, spec] of Object.entries(asObj(root.modules) ?? {})) {
    if (!ENTITY_ID.test(name)) continue;
    const module = asObj(spec);
    const trigger = asObj(module?.schedule)?.trigger;
    const triggered = typeof trigger === "string" ? /^gpio:pin_(0|[1-9][0-9]{0,4})$/.exec(trigger) : null;
    if (triggered && !pins.has(Number(triggered[1]))) {
      issues.push({
        path: ["modules", name, "schedule", "trigger"],
        message: `module "${name}" is triggered by "${trigger}", but ${missing(Number(triggered[1]))}`,
      });
    }
    const capabilities = module?.capabilities;
    if (!Array.isArray(capabilities)) continue;
    capabilities.forEach((text, i) => {
      if (typeof text !== "string") return;
      let capability;
      try {
        capability = parseCapability(text);
      } catch (err) {
        if (err instanceof CapabilityError) return; // reported with the module's capabilities
        throw err;
      }
      if (capability.type !== "gpio" || capability.pin === null) return;
      const pin = capability.pin;
      const path = ["modules", name, "capabilities", i];
      if (!pins.has(pin)) {
        issues.push({ path, message: `"${text}" names pin ${pin}, but ${missing(pin)}` });
      } else if (capability.operation === "write" && pins.get(pin) === "in") {
        issues.push({
          path,
          message: `"${text}" names pin ${pin}, an input line (connectors.gpio.pins.${pin}.direction: in), ` +
            `which a module cannot drive`,
        });
      }
    });
  }
}

function asObj(value: unknown): Obj | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Obj : undefined;
}
