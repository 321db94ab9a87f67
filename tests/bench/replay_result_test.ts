/**
 * The committed results of `bench/replay.ts` (`bench/results/replay.json`) hold the live recording figures
 * `bench/record_stream.ts` measures through the runtime (`recording_stream`, checked against
 * `RecordingStreamResult`) and the determinism figure of the five example modules, the event module safety
 * included. Never its numbers: timings live in `bench/`, not in tests.
 */
import assert from "node:assert/strict";
import { RecordingLive, RecordingStreamResult } from "../../bench/report_schema.ts";

const RESULT = new URL("../../bench/results/replay.json", import.meta.url);

Deno.test("the committed replay results hold the live recording figures and every example module's determinism", async (t) => {
  const raw = JSON.parse(await Deno.readTextFile(RESULT));

  await t.step("recording_stream parses with RecordingStreamResult, 1 and 12 sensors", () => {
    const parsed = RecordingStreamResult.safeParse(raw.recording_stream);
    assert.ok(parsed.success, parsed.success ? "" : JSON.stringify(parsed.error.issues, null, 2));
    assert.deepEqual(Object.keys(parsed.data.runs).sort(), ["sensors_1", "sensors_12"]);
    for (const run of Object.values(parsed.data.runs)) {
      assert.equal(run.sides.off.recorded_invocations_count, 0, "nothing is recorded on the off side");
      assert.ok(run.sides.all.recorded_invocations_count > 0, "the all side recorded");
    }
  });

  await t.step("determinism covers fft, anomaly, temperature, aggregator and safety", () => {
    assert.deepEqual(Object.keys(raw.determinism).sort(), [
      "aggregator",
      "anomaly",
      "fft",
      "safety",
      "temperature",
    ]);
    for (const d of Object.values(raw.determinism) as { runs_count: number; invocations_count: number }[]) {
      assert.ok(d.runs_count > 0 && d.invocations_count > 1);
    }
  });

  await t.step("the report's recording_live section refuses a side left out", () => {
    const side = { off: 1, anomaly: 1, all: 1 };
    const full = {
      sensors_count: 12,
      samples_per_s: side,
      dropped_samples_count: side,
      cpu_percent: side,
      fft_handler_mean_us: side,
      fft_handler_p99_us: side,
      anomaly_handler_mean_us: side,
      anomaly_handler_p99_us: side,
      budget_overruns_count: side,
      trace_bytes_per_s: side,
      note: "n",
    };
    assert.ok(RecordingLive.safeParse(full).success);
    assert.equal(RecordingLive.safeParse({ ...full, cpu_percent: { off: 1, all: 1 } }).success, false);
  });
});
