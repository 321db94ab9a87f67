/**
 * `kiln run` with the embedded MQTT broker (the demo's `connectors.mqtt.embedded`): Kiln generates the
 * broker's credentials on its first start, keeps them in `<data>/mqtt-embedded.json` (mode 0600) and says
 * where; its own uplink connects with them, Mosquitto's clients get in with them and are refused without,
 * and a second start keeps the same ones.
 */
import assert from "node:assert/strict";
import { getJson, startKiln } from "../_process.ts";
import { waitFor } from "../_helpers.ts";

/** Runs `mosquitto_sub` or `mosquitto_pub` against `port`, killed after 20 s at most. */
async function mosquitto(program: string, port: number, args: string[]) {
  const out = await new Deno.Command(program, {
    args: ["-h", "127.0.0.1", "-p", `${port}`, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("kiln run's embedded broker takes only the credentials Kiln generated and keeps in its data directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-e2e-embedded-" });
  try {
    const file = `${dir}/mqtt-embedded.json`;
    let first: { username: string; password: string };
    {
      await using kiln = await startKiln(["--data", dir]);
      const port = Number(
        (await waitFor(
          "the broker's address",
          () => /embedded broker listening at mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(kiln.output()),
        ))[1],
      );
      assert.match(kiln.output(), new RegExp(`user name and password in ${file.replaceAll("/", "\\/")}`));
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      first = JSON.parse(await Deno.readTextFile(file));

      // Kiln's own uplink connected with them.
      await waitFor("the uplink to connect", async () => {
        const u = await getJson<{ connector: { state: string } }>(`${kiln.base}/api/v1/uplink`);
        return u.connector.state === "connected";
      });

      const anonymous = await mosquitto("mosquitto_sub", port, ["-t", "kiln/#", "-C", "1", "-W", "10"]);
      assert.notEqual(anonymous.code, 0);
      assert.match(anonymous.stderr, /not authori[sz]ed/i);
      const wrong = await mosquitto("mosquitto_sub", port, [
        "-u",
        first.username,
        "-P",
        "not-the-password",
        "-t",
        "kiln/#",
        "-C",
        "1",
        "-W",
        "10",
      ]);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /not authori[sz]ed/i);

      // With them, the demo's summaries (aggregator, 1 Hz) arrive.
      const summary = await mosquitto("mosquitto_sub", port, [
        "-u",
        first.username,
        "-P",
        first.password,
        "-t",
        "kiln/summary/temperature",
        "-C",
        "1",
        "-W",
        "15",
      ]);
      assert.equal(summary.code, 0, summary.stderr);
      assert.ok(JSON.parse(summary.stdout.trim()), "a JSON summary");
      assert.equal(await kiln.stop(), 0);
    }
    {
      await using again = await startKiln(["--data", dir]);
      await waitFor("the uplink to connect again", async () => {
        const u = await getJson<{ connector: { state: string } }>(`${again.base}/api/v1/uplink`);
        return u.connector.state === "connected";
      });
      assert.deepEqual(JSON.parse(await Deno.readTextFile(file)), first, "the same credentials");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
