/**
 * The committed benchmark report (`bench/results/latest.json`, written by `deno task bench`) against its
 * schema (`bench/report_schema.ts`): every key the report must hold is there, every figure is a number (or a
 * distribution, a list or a figure with its target) or null with a reason, and every figure's name carries
 * its unit. Never its numbers: timings live in `bench/`, not in tests.
 */
import assert from "node:assert/strict";
import {
  FIGURE_SECTIONS,
  hasUnit,
  isFigure,
  listFigures,
  ReportSchema,
  REQUIRED_FIGURES,
  Unavailable,
} from "../../bench/report_schema.ts";

const REPORT = new URL("../../bench/results/latest.json", import.meta.url);
const ROOT = new URL("../../", import.meta.url);

Deno.test("the committed benchmark report matches its schema", async (t) => {
  const raw: unknown = JSON.parse(await Deno.readTextFile(REPORT));

  await t.step("it parses with ReportSchema, which refuses unknown and missing keys", () => {
    const result = ReportSchema.safeParse(raw);
    assert.ok(result.success, result.success ? "" : JSON.stringify(result.error.issues, null, 2));
  });

  await t.step("every figure issue 8 names is present and is a figure", () => {
    for (const path of REQUIRED_FIGURES) {
      const value = path.split(".").reduce<unknown>(
        (
          at,
          key,
        ) => (at !== null && typeof at === "object" ? (at as Record<string, unknown>)[key] : undefined),
        raw,
      );
      assert.ok(value !== undefined, `${path} is missing`);
      assert.ok(isFigure(value), `${path} is not a figure: ${JSON.stringify(value)}`);
    }
  });

  await t.step(
    "each figure is a number, a distribution, a list, a tracked figure or null with a reason",
    () => {
      const figures = listFigures(raw);
      assert.ok(figures.length >= REQUIRED_FIGURES.length);
      for (const { path, figure } of figures) {
        if (figure !== null && typeof figure === "object" && "value" in figure && figure.value === null) {
          assert.ok(Unavailable.safeParse(figure).success, `${path.join(".")}: null without a reason`);
        }
      }
      // Nothing in a figure section is null or a string where a figure belongs.
      const walk = (x: unknown, path: string[]): void => {
        assert.notEqual(x, null, `${path.join(".")} is a bare null (it needs a reason)`);
        if (isFigure(x) || typeof x !== "object" || Array.isArray(x)) return;
        for (const [k, v] of Object.entries(x as object)) walk(v, [...path, k]);
      };
      for (const section of FIGURE_SECTIONS) walk((raw as Record<string, unknown>)[section], [section]);
    },
  );

  await t.step("every figure's name, or a name above it, carries its unit", () => {
    const missing = listFigures(raw).filter(({ path }) => !hasUnit(path)).map(({ path }) => path.join("."));
    assert.deepEqual(missing, []);
  });

  await t.step("a tracked figure's `met` agrees with its value and target", () => {
    for (const { path, figure } of listFigures(raw)) {
      if (figure === null || typeof figure !== "object" || !("target" in figure)) continue;
      const f = figure as {
        value: number | Record<string, number>;
        target: Record<string, number>;
        met: boolean;
      };
      const v = typeof f.value === "number"
        ? f.value
        : f.value[(f.target.stat as unknown as string) ?? "p50"]!;
      const met = "at_most" in f.target ? v <= f.target.at_most! : v >= f.target.at_least!;
      assert.equal(
        f.met,
        met,
        `${path.join(".")}: met is ${f.met} for ${v} against ${JSON.stringify(f.target)}`,
      );
    }
  });

  await t.step("the curves it lists are committed beside it", async () => {
    const report = ReportSchema.parse(raw);
    for (const curve of report.curves) {
      if (curve.reason !== null) continue;
      for (const file of [curve.csv, ...curve.svg.map((s) => s.file)]) {
        const stat = await Deno.stat(new URL(file, ROOT));
        assert.ok(stat.isFile && stat.size > 0, `${file} is empty`);
      }
    }
  });
});
