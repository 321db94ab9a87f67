import assert from "node:assert/strict";
import { actuatorTarget, checkPlantRefs } from "./instance_spec.ts";
import { ModuleRejectedError } from "./errors.ts";
import { deploymentPlan, modulePlan } from "../tests/_helpers.ts";

Deno.test("an actuator that is no point of the plant gets a resource no grant can cover", () => {
  const plant = deploymentPlan([]);
  const modbus = actuatorTarget(plant, "modbus:plc1/heater");
  assert.equal(modbus.type, "modbus");
  assert.equal(modbus.resource, "plc1/unknown/heater");
  const opcua = actuatorTarget(plant, "opcua:line1/valve");
  assert.equal(opcua.type, "opcua");
  assert.equal(opcua.resource, "line1/ns=0;s=__unknown__");
});

Deno.test("a module reading a sensor or input the plant does not have is refused, naming each", () => {
  const plant = deploymentPlan([]);
  checkPlantRefs(plant, modulePlan({ name: "ok", wasm: "x.wasm", inputs: ["sim:temp"] }));
  assert.throws(
    () =>
      checkPlantRefs(
        plant,
        modulePlan({
          name: "bad",
          wasm: "x.wasm",
          schedule: { mode: "stream", source: "sim:nope", window: 256, hop: 256, priority: 50 },
          inputs: ["modbus:plc9/x"],
        }),
      ),
    (err: unknown) =>
      err instanceof ModuleRejectedError && err.reasons.length === 2 &&
      err.reasons.every((r) => /is not a sensor or point of this plant/.test(r)),
  );
});
