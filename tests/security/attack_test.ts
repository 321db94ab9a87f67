import assert from "node:assert/strict";
import { ModuleRejectedError } from "../../runtime/mod.ts";
import { fixture, runHostile } from "./_harness.ts";

Deno.test("attack: unreachable in a handler crashes only that module, which is restarted", async () => {
  await runHostile({
    bytes: await fixture("trap_unreachable"),
    expect: {
      until: (m) => m.restarts >= 1,
      check: (m) => {
        assert.equal(m.last_fault?.kind, "unreachable");
        assert.equal(m.last_fault?.function, "boom");
      },
    },
  });
});

Deno.test("attack: bad magic is refused as malformed", async () => {
  await runHostile({
    bytes: new TextEncoder().encode("\x7fELF not wasm at all"),
    expect: { refused: (e) => e instanceof ModuleRejectedError && /magic/i.test(e.reasons.join()) },
  });
});
