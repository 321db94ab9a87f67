import assert from "node:assert/strict";
import { createMiniHost, type MiniHost } from "./_mini_host.ts";
import { readModule } from "./_paths.ts";

const EVENT_API = 1, EVENT_GPIO = 2, EVENT_CHANNEL = 3;
const encoder = new TextEncoder();

async function safetyHost(params: Record<string, number> = {}): Promise<MiniHost> {
  return await createMiniHost(await readModule("safety/safety.wasm"), { events: true, params });
}

/** A trip record as the temperature module writes it (modules/README.md, "Channel records"). */
function tripRecord(temperatureC: number, tripC: number, atUs = 1_000_000n): Uint8Array {
  const bytes = new Uint8Array(24);
  const view = new DataView(bytes.buffer);
  view.setFloat64(0, temperatureC, true);
  view.setFloat64(8, tripC, true);
  view.setBigInt64(16, atUs, true);
  return bytes;
}

Deno.test("a trip record drives the emergency-stop pin high and raises a critical alert", async () => {
  const host = await safetyHost();
  assert.equal(host.event(EVENT_CHANNEL, tripRecord(87.3, 85)), 0);
  assert.deepEqual(host.gpioWrites, [{ pin: 8, value: 1 }]);
  assert.deepEqual(host.alerts, [{
    severity: 2,
    message: "Emergency stop: temperature 87.3 °C above trip 85.0 °C",
  }]);
  assert.equal(host.outputs.get("estop"), 1);
  assert.equal(host.outputs.get("trips"), 1);
  assert.equal(host.event(EVENT_CHANNEL, tripRecord(91, 85)), 0);
  assert.equal(host.outputs.get("trips"), 2);
  assert.deepEqual(host.gpioWrites.at(-1), { pin: 8, value: 1 });
});

Deno.test('an API event resets the stop: the body "0" or a JSON body with "reset"', async (t) => {
  for (const body of ["0", " 0\n", `{"action":"reset"}`]) {
    await t.step(JSON.stringify(body), async () => {
      const host = await safetyHost();
      host.event(EVENT_CHANNEL, tripRecord(86, 85));
      assert.equal(host.event(EVENT_API, encoder.encode(body)), 0);
      assert.deepEqual(host.gpioWrites, [{ pin: 8, value: 1 }, { pin: 8, value: 0 }]);
      assert.equal(host.outputs.get("estop"), 0);
      assert.ok(host.logs.some((l) => l.level === 1 && /reset/.test(l.message)));
    });
  }
  await t.step("another body is refused and leaves the pin high", async () => {
    const host = await safetyHost();
    host.event(EVENT_CHANNEL, tripRecord(86, 85));
    for (const body of ["1", "", "00", `{"action":"trip"}`]) {
      assert.equal(host.event(EVENT_API, encoder.encode(body)), -5, body);
    }
    assert.deepEqual(host.gpioWrites, [{ pin: 8, value: 1 }]);
    assert.equal(host.outputs.get("estop"), 1);
  });
});

Deno.test("a record of the wrong size is refused with KILN_EINVAL and touches no pin", async () => {
  const host = await safetyHost();
  for (const len of [0, 16, 23, 25, 1024]) assert.equal(host.event(EVENT_CHANNEL, new Uint8Array(len)), -5);
  assert.deepEqual(host.gpioWrites, []);
  assert.deepEqual(host.alerts, []);
});

Deno.test("estop_pin chooses the pin, and a bad one fails kiln_init", async (t) => {
  await t.step("pin 17", async () => {
    const host = await safetyHost({ estop_pin: 17 });
    host.event(EVENT_CHANNEL, tripRecord(86, 85));
    assert.deepEqual(host.gpioWrites, [{ pin: 17, value: 1 }]);
  });
  for (const pin of [-1, 1024, 2.5]) {
    await t.step(`pin ${pin}`, async () => {
      const host = await createMiniHost(await readModule("safety/safety.wasm"), {
        events: true,
        params: { estop_pin: pin },
        skipInit: true,
      });
      assert.equal(host.init(), -5);
    });
  }
});

Deno.test("a refused pin write still alerts, says the stop failed, and returns the error", async () => {
  const host = await safetyHost();
  host.gpioStatus = -3;
  assert.equal(host.event(EVENT_CHANNEL, tripRecord(87.3, 85)), -3);
  assert.equal(host.alerts.length, 1);
  assert.match(host.alerts[0]!.message, /^Emergency stop FAILED .*pin 8.*-3.*87\.3 °C above trip 85\.0 °C$/);
  assert.equal(host.outputs.get("estop"), undefined);
  assert.equal(host.outputs.get("trips"), 1);
});

Deno.test("GPIO edge events are ignored", async () => {
  const host = await safetyHost();
  assert.equal(host.event(EVENT_GPIO, new Uint8Array(8)), 0);
  assert.deepEqual(host.gpioWrites, []);
});

Deno.test("the temperature module's trip record, handed to the safety module, stops the machine", async () => {
  const temperature = await createMiniHost(await readModule("temperature/temperature.wasm"), {
    channels: 1,
    params: { "kiln.period_us": 100_000 },
  });
  const safety = await safetyHost();
  for (const [i, value] of [60, 84, 88.04].entries()) {
    temperature.inputs[0] = { value, quality: 0 };
    assert.equal(temperature.tick(BigInt((i + 1) * 100_000)), 0);
  }
  assert.equal(temperature.records.length, 1);
  assert.equal(safety.event(EVENT_CHANNEL, temperature.records[0]!.bytes), 0);
  assert.deepEqual(safety.gpioWrites, [{ pin: 8, value: 1 }]);
  assert.equal(safety.alerts[0]!.message, "Emergency stop: temperature 88.0 °C above trip 85.0 °C");
});
