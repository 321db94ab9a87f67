/**
 * The capability manager's two checks that follow validation: linking (a host import is supplied only when a
 * granted capability covers its class) and call time (each call's concrete resource against the grants).
 * The policy check itself (a module asks only for what `policy.allow` permits) runs on the manifest.
 *
 * @module
 */
import { type Capability, CapabilityError, matchesResource, parseCapability } from "../capabilities.ts";

/** A module's granted capabilities, parsed once; used inside executors at every gated call. */
export class GrantSet {
  readonly grants: readonly Capability[];

  constructor(texts: readonly string[]) {
    this.grants = texts.map((t) => parseCapability(t));
  }

  /**
   * The text of the first grant that covers `operation` on the concrete `resource` of `type`
   * (`("read", "gpio", "pin_3")`), or null when none does or the resource is malformed.
   */
  find(operation: "read" | "write", type: string, resource: string): string | null {
    for (const g of this.grants) {
      if (g.operation !== operation || (g.type !== type && g.type !== "*")) continue;
      try {
        if (matchesResource(g, resource)) return g.text;
      } catch (err) {
        if (err instanceof CapabilityError) return null;
        throw err;
      }
    }
    return null;
  }

  /** True when some grant covers the class `operation:type:*` (`type` may be `*`): the linking check. */
  coversClass(capabilityClass: string): boolean {
    const [operation, type] = capabilityClass.split(":");
    return this.grants.some((g) =>
      g.operation === operation && (type === "*" || g.type === type || g.type === "*")
    );
  }
}
