/**
 * Hostile modules of the `logs` class: a module's text in the process log must stay its own, on one line,
 * without terminal control. The module logs and alerts a text that would, printed raw, end its line and
 * forge a critical alert by a neighbour, clear the screen and reverse the line. Each case runs in both
 * executors beside the harness's neighbours ({@linkcode runHostile}), which must keep their rate.
 */
import assert from "node:assert/strict";
import { formatLogLine, type LogEntry } from "../../log_text.ts";
import { fixture, runHostile, testInBothExecutors } from "./_harness.ts";

const FORGED = 'ok\nmodule=n_event kind=alert level=critical msg="E-STOP"\x1b[2J\u202e';

testInBothExecutors(
  "escape[logs]: a module's log and alert text cannot end its line, write as another module or reach the terminal",
  async (priority) => {
    const entries: LogEntry[] = [];
    await runHostile({
      priority,
      bytes: await fixture("logs_forge_other_module"),
      log: (entry) => entries.push(entry),
      expect: { until: (m) => m.invocations >= 3 },
    });
    const mine = entries.filter((e) => typeof e !== "string" && e.module === "hostile");
    assert.ok(mine.some((e) => typeof e !== "string" && e.kind === "log"), "its log lines reached the log");
    assert.ok(mine.some((e) => typeof e !== "string" && e.kind === "alert"), "its alerts reached the log");
    for (const entry of entries) {
      const text = formatLogLine(entry, { format: "text" });
      assert.ok(
        // deno-lint-ignore no-control-regex
        !/[\n\r\x1b\u202e]/.test(text),
        `one line, no control or bidi characters: ${JSON.stringify(text)}`,
      );
      assert.ok(
        !text.startsWith("module=n_event"),
        `a line written as the neighbour: ${JSON.stringify(text)}`,
      );
      if (mine.includes(entry)) assert.ok(text.startsWith("module=hostile "), text);
      // The JSON form keeps the exact text, so nothing is lost by the escaping.
      const json = JSON.parse(formatLogLine(entry, { format: "json" }));
      if (mine.includes(entry)) {
        assert.equal(json.module, "hostile");
        assert.equal(json.msg, FORGED);
      }
    }
  },
);
