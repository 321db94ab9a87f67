import assert from "node:assert/strict";
import { createProcessLog, logFormatOf } from "./_log.ts";
import { UsageError } from "./_usage.ts";

Deno.test("the text process log writes Kiln's banner as it is and module records escaped after their name", () => {
  const lines: string[] = [];
  const log = createProcessLog({ format: "text", write: (l) => lines.push(l) });
  log.say("kiln 0.1.0: ready\n  health   http://127.0.0.1:8080/health");
  log.log({ module: "probe", kind: "log", level: "info", message: "a\nmodule=other kind=log" });
  log.log('runtime: module "probe" crashed: bad\r\x1b[2K');
  assert.deepEqual(lines, [
    "kiln 0.1.0: ready\n  health   http://127.0.0.1:8080/health",
    'module=probe kind=log level=info msg="a\\nmodule=other kind=log"',
    'runtime: module "probe" crashed: bad\\r\\x1b[2K',
  ]);
});

Deno.test("the json process log writes one object per line, Kiln's multi-line messages included", () => {
  const lines: string[] = [];
  const log = createProcessLog({ format: "json", write: (l) => lines.push(l) });
  log.say("first\nsecond");
  log.log({ module: "probe", kind: "alert", level: "critical", message: "x\ny" });
  assert.equal(lines.length, 3);
  const [a, b, c] = lines.map((l) => JSON.parse(l));
  assert.equal(a.msg, "first");
  assert.equal(b.msg, "second");
  assert.deepEqual([c.source, c.module, c.kind, c.level, c.msg], [
    "module",
    "probe",
    "alert",
    "critical",
    "x\ny",
  ]);
});

Deno.test("--log-format takes text or json, and anything else is a usage error", () => {
  assert.equal(logFormatOf("json"), "json");
  assert.equal(logFormatOf("text"), "text");
  assert.throws(() => logFormatOf("xml"), UsageError);
});

Deno.test({
  name: "without --log-format and without access to its variable, the log format is text",
  permissions: { env: false },
  fn() {
    assert.equal(logFormatOf(undefined), "text");
  },
});
