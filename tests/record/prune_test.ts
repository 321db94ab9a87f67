import assert from "node:assert/strict";
import { pruneTraces } from "../../runtime/record/live.ts";

Deno.test("a module's oldest traces beyond the kept number are deleted, and no other module's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-prune-" });
  try {
    const at = (minute: number) => `2026-12-07T16-${String(minute).padStart(2, "0")}-00-000Z`;
    const names = [
      ...Array.from({ length: 7 }, (_, i) => `fft-${at(i)}.ktrace`),
      `fft-2-${at(1)}.ktrace`,
      `fft-2-${at(2)}.ktrace`,
      "fft-notes.txt",
    ];
    for (const n of names) await Deno.writeTextFile(`${dir}/${n}`, "x");
    await pruneTraces(dir, `${dir}/fft-${at(6)}.ktrace`, 5);
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(
      left,
      [
        "fft-2-2026-12-07T16-01-00-000Z.ktrace",
        "fft-2-2026-12-07T16-02-00-000Z.ktrace",
        ...Array.from({ length: 5 }, (_, i) => `fft-${at(i + 2)}.ktrace`),
        "fft-notes.txt",
      ].sort(),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
