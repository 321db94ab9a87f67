/**
 * `/api/v1/sim`: the simulated plant, and fault injection for demos and tests.
 *
 * @module
 */
import { Hono } from "hono";
import { BadRequestError, jsonBody, NotFoundError } from "../errors.ts";
import type { ApiDeps } from "../deps.ts";

const FAULTS = ["none", "bearing", "overheat"] as const;

/** Routes under `/api/v1/sim`. */
export function simRoutes({ runtime }: ApiDeps): Hono {
  const app = new Hono();
  app.get("/sensors", (c) => c.json({ sensors: runtime.listSimSensors() }));
  app.post("/sensors/:id/fault", async (c) => {
    const id = c.req.param("id");
    const body = await jsonBody(c);
    const fault = body.fault;
    if (typeof fault !== "string" || !(FAULTS as readonly string[]).includes(fault)) {
      throw new BadRequestError(`Field "fault" must be one of ${FAULTS.map((f) => `"${f}"`).join(", ")}`);
    }
    const sensor = runtime.listSimSensors().find((s) => s.id === id);
    if (!sensor) throw new NotFoundError("sensor_unknown", `No simulated sensor named "${id}"`);
    if (!runtime.setFault(id, fault as (typeof FAULTS)[number])) {
      throw new BadRequestError(`Fault "${fault}" does not apply to ${sensor.kind} sensor "${id}"`);
    }
    return c.json(runtime.listSimSensors().find((s) => s.id === id));
  });
  app.get("/gpio", (c) => c.json({ pins: runtime.listGpio() }));
  app.post("/gpio/:pin", async (c) => {
    const raw = c.req.param("pin");
    const pin = Number(raw);
    const body = await jsonBody(c);
    if (body.value !== 0 && body.value !== 1) throw new BadRequestError(`Field "value" must be 0 or 1`);
    if (!Number.isInteger(pin) || !runtime.setGpioInput(pin, body.value)) {
      throw new NotFoundError("pin_unknown", `No simulated GPIO pin "${raw}"`);
    }
    return c.json(runtime.listGpio()[pin]);
  });
  return app;
}
