import assert from "node:assert/strict";
import {
  escapeText,
  formatLogLine,
  type ModuleLogRecord,
  quoteText,
  safeJsonStringify,
  UNSAFE_TEXT_PATTERN,
} from "./log_text.ts";

/** Every class of character that must be shown escaped, with examples and their escapes. */
const CLASSES: [string, [string, string][]][] = [
  ["line breaks and tab", [["\n", "\\n"], ["\r", "\\r"], ["\t", "\\t"]]],
  ["other C0 controls", [["\x00", "\\x00"], ["\x07", "\\x07"], ["\x08", "\\x08"], ["\x0b", "\\x0b"], [
    "\x0c",
    "\\x0c",
  ], ["\x1f", "\\x1f"]]],
  ["ESC, which starts every ANSI/VT sequence", [["\x1b", "\\x1b"]]],
  ["DEL", [["\x7f", "\\x7f"]]],
  ["C1 controls (CSI, NEL, OSC, ST)", [
    ["\x80", "\\x80"],
    ["\x85", "\\x85"],
    ["\x9b", "\\x9b"],
    [
      "\x9d",
      "\\x9d",
    ],
    ["\x9c", "\\x9c"],
    ["\x9f", "\\x9f"],
  ]],
  ["bidi embeddings and overrides", [["\u202a", "\\u202a"], ["\u202b", "\\u202b"], ["\u202c", "\\u202c"], [
    "\u202d",
    "\\u202d",
  ], ["\u202e", "\\u202e"]]],
  ["bidi isolates", [["\u2066", "\\u2066"], ["\u2067", "\\u2067"], ["\u2068", "\\u2068"], [
    "\u2069",
    "\\u2069",
  ]]],
  ["bidi marks", [["\u200e", "\\u200e"], ["\u200f", "\\u200f"], ["\u061c", "\\u061c"]]],
  ["line and paragraph separators", [["\u2028", "\\u2028"], ["\u2029", "\\u2029"]]],
  ["lone surrogates", [["\ud800", "\\ud800"], ["\udfff", "\\udfff"]]],
];

Deno.test("escapeText shows every control, escape, bidi and separator character as an escape", async (t) => {
  for (const [name, cases] of CLASSES) {
    await t.step(name, () => {
      for (const [raw, shown] of cases) {
        assert.equal(escapeText(`a${raw}b`), `a${shown}b`, JSON.stringify(raw));
      }
    });
  }
});

Deno.test("escapeText leaves printable text alone, other scripts and emoji included", () => {
  const printable =
    "plain ASCII ~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./ é ß 温度 שלום مرحبا 🚀 \u00a0 \u00ff \u0100";
  assert.equal(escapeText(printable), printable);
  assert.equal(escapeText("🚀"), "🚀", "a surrogate pair is one character, not two lone surrogates");
});

Deno.test("every character escapeText leaves raw is outside the unsafe classes", () => {
  const unsafe = new RegExp(UNSAFE_TEXT_PATTERN, "u");
  for (let c = 0; c <= 0xffff; c++) {
    const s = String.fromCharCode(c);
    const shown = escapeText(s);
    assert.doesNotMatch(shown, unsafe, `U+${c.toString(16)}`);
    if (shown !== s) assert.match(shown, /^\\(n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4})$/, `U+${c.toString(16)}`);
  }
});

Deno.test("an ANSI sequence, a forged line and a bidi override stay on one visible line", () => {
  const hostile =
    'ok\x1b[2K\r\x1b[31mmodule=safety kind=alert level=critical msg="E-STOP"\n[other] info: x\u202e';
  const shown = escapeText(hostile);
  assert.equal(shown.split(/[\n\r\u2028\u2029]/).length, 1);
  assert.ok(!shown.includes("\x1b"));
  assert.equal(
    shown,
    'ok\\x1b[2K\\r\\x1b[31mmodule=safety kind=alert level=critical msg="E-STOP"\\n[other] info: x\\u202e',
  );
});

Deno.test("quoteText escapes quotes and backslashes too, so the quoted text ends only at its quote", () => {
  assert.equal(quoteText('say "hi"\\n'), '"say \\"hi\\"\\\\n"');
  assert.equal(quoteText("a\nb"), '"a\\nb"');
  // Reading the quoted text back as a JSON string gives the original (the escapes are JSON's, plus \x).
  const text = 'x "y" \\ z\u202e';
  assert.equal(JSON.parse(quoteText(text)), text);
});

Deno.test("safeJsonStringify escapes what JSON.stringify leaves raw and parses back to the same value", () => {
  const value = { msg: "a\x7f\x85\x9b\u202e\u2028\u2029\u061c\n\x1b", n: 1, list: ["\u2066"] };
  const json = safeJsonStringify(value);
  assert.doesNotMatch(json, new RegExp(UNSAFE_TEXT_PATTERN, "u"));
  assert.deepEqual(JSON.parse(json), value);
  assert.equal(safeJsonStringify({ a: 1 }, 2), '{\n  "a": 1\n}');
  assert.throws(() => safeJsonStringify(undefined), TypeError);
});

Deno.test("a module's log record is one text line that starts with its name and quotes its text", () => {
  const forged = 'done\nmodule=safety kind=alert level=critical msg="E-STOP"\r\x1b[1A';
  const line = formatLogLine({ module: "probe", kind: "log", level: "info", message: forged }, {
    format: "text",
  });
  assert.equal(
    line,
    'module=probe kind=log level=info msg="done\\nmodule=safety kind=alert level=critical msg=\\"E-STOP\\"\\r\\x1b[1A"',
  );
  assert.ok(!line.includes("\n") && !line.includes("\r") && !line.includes("\x1b"));
  const alert = formatLogLine({
    module: "anomaly",
    kind: "alert",
    level: "critical",
    message: "Bearing fault",
  }, {
    format: "text",
  });
  assert.equal(alert, 'module=anomaly kind=alert level=critical msg="Bearing fault"');
  const denial = formatLogLine(
    { module: "probe", kind: "denial", level: "warn", message: 'publish "x" needs "write:mqtt:x"', count: 3 },
    { format: "text" },
  );
  assert.equal(
    denial,
    'module=probe kind=denial level=warn msg="publish \\"x\\" needs \\"write:mqtt:x\\"" count=3',
  );
  // Names are validated elsewhere; a strange one is still quoted rather than trusted.
  assert.equal(
    formatLogLine({ module: "a b\n", kind: "log", level: "info", message: "" }, { format: "text" }),
    'module="a b\\n" kind=log level=info msg=""',
  );
});

Deno.test("Kiln's own lines are escaped too and never start like a module's", () => {
  assert.equal(formatLogLine("kiln: stopping", { format: "text" }), "kiln: stopping");
  assert.equal(
    formatLogLine('module "x" crashed: bad\nmodule=y kind=log', { format: "text" }),
    'module "x" crashed: bad\\nmodule=y kind=log',
  );
  assert.equal(formatLogLine("module=x", { format: "text" }), "kiln: module=x");
});

Deno.test("in json format each entry is one object per line with its source, and parses back exactly", () => {
  const record: ModuleLogRecord = {
    module: "probe",
    kind: "log",
    level: "warn",
    message: "a\nb\u2028c\x9b\u202e",
    at: Date.UTC(2025, 0, 1),
  };
  const line = formatLogLine(record, { format: "json" });
  assert.ok(!/[\n\r\u2028\u2029\x9b\u202e]/.test(line));
  assert.deepEqual(JSON.parse(line), {
    time: "2025-01-01T00:00:00.000Z",
    source: "module",
    module: "probe",
    kind: "log",
    level: "warn",
    msg: "a\nb\u2028c\x9b\u202e",
  });
  const counted = JSON.parse(formatLogLine({ ...record, kind: "denial", count: 2 }, { format: "json" }));
  assert.equal(counted.count, 2);
  const own = JSON.parse(formatLogLine("kiln: stopping\nfake", { format: "json", nowMs: 0 }));
  assert.deepEqual(own, { time: "1970-01-01T00:00:00.000Z", source: "kiln", msg: "kiln: stopping\nfake" });
});
