import assert from "node:assert/strict";
import { MODULES_DIR } from "./_paths.ts";
import { BUILD_TIMEOUT_MS } from "../_timeouts.ts";

Deno.test("training again reproduces the committed anomaly weights byte for byte", async () => {
  const out = await Deno.makeTempFile({ suffix: ".bin" });
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        `--allow-write=${out}`,
        new URL("anomaly/train.ts", MODULES_DIR).pathname,
        `--out=${out}`,
      ],
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.deepEqual(
      await Deno.readFile(out),
      await Deno.readFile(new URL("anomaly/weights.bin", MODULES_DIR)),
    );
  } finally {
    await Deno.remove(out);
  }
});
