/**
 * `/api/v1/sim`: the simulated plant, and fault injection for demos and tests.
 *
 * @module
 */
import { Hono } from "hono";
import { PinUnknownError } from "../../runtime/mod.ts";
import { BadRequestError, jsonBody } from "../errors.ts";
import type { SimulatedPlant } from "../ports.ts";
import { gpioPinJson, sensorJson } from "../_json.ts";

const FAULTS = ["none", "bearing", "overheat"] as const;

/**
 * Routes under `/api/v1/sim`. A fault for a sensor that does not exist is 404 `sensor_unknown`, one that does
 * not apply to its kind 400 `fault_not_applicable`; a level for a pin the bank does not have is 404
 * `pin_unknown`, one the bank refuses (a Linux line: only its wire sets it) 409 `gpio_direction`.
 */
export function simRoutes(plant: SimulatedPlant): Hono {
  const app = new Hono();
  app.get("/sensors", (c) => c.json({ sensors: plant.listSensors().map(sensorJson) }));
  app.post("/sensors/:id/fault", async (c) => {
    const body = await jsonBody(c);
    const fault = body.fault;
    if (typeof fault !== "string" || !(FAULTS as readonly string[]).includes(fault)) {
      throw new BadRequestError(`Field "fault" must be one of ${FAULTS.map((f) => `"${f}"`).join(", ")}`);
    }
    return c.json(sensorJson(plant.setFault(c.req.param("id"), fault as (typeof FAULTS)[number])));
  });
  app.get("/gpio", (c) => c.json({ pins: plant.listGpio().map(gpioPinJson) }));
  app.post("/gpio/:pin", async (c) => {
    const raw = c.req.param("pin");
    const pin = Number(raw);
    const body = await jsonBody(c);
    if (body.value !== 0 && body.value !== 1) throw new BadRequestError(`Field "value" must be 0 or 1`);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(pin)) throw new PinUnknownError(raw);
    return c.json(gpioPinJson(plant.setGpioInput(pin, body.value)));
  });
  return app;
}
