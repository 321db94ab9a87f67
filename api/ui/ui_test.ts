import assert from "node:assert/strict";
import { Hono } from "hono";
import { createUiRoutes, UI_CONTENT_SECURITY_POLICY } from "./mod.ts";
import { PAGE_HTML } from "./_page.ts";
import { CHARTS_JS } from "./_charts_js.ts";
import { APP_JS } from "./_app_js.ts";
import { SAFE_TEXT_JS } from "./_safe_text_js.ts";
import { VALIDATION_JS } from "./_validation_js.ts";
import { OPS_JS } from "./_ops_js.ts";
import { ALERTS_JS } from "./_alerts_js.ts";
import { escapeText } from "../../log_text.ts";

/** The dashboard mounted the way `api/mod.ts` mounts it: before the API's JSON index. */
function app(): Hono {
  const a = new Hono();
  a.route("/", createUiRoutes());
  a.get("/", (c) => c.json({ name: "kiln" }));
  return a;
}

Deno.test("a browser gets the page at / and any other client falls through to the JSON index", async () => {
  const page = await app().request("/", { headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" } });
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(await page.text(), /<title>Kiln dashboard<\/title>/);

  for (const accept of [undefined, "application/json", "*/*", "text/html;q=0"]) {
    const res = await app().request("/", { headers: accept === undefined ? {} : { accept } });
    assert.equal(res.status, 200, String(accept));
    assert.deepEqual(await res.json(), { name: "kiln" }, String(accept));
  }
  const ui = await app().request("/ui/");
  assert.equal(ui.headers.get("content-type"), "text/html; charset=utf-8");
  await ui.body?.cancel();
});

Deno.test("every asset has its content type, the strict CSP, nosniff and an ETag that revalidates to 304", async () => {
  const types: Record<string, string> = {
    "/ui": "text/html; charset=utf-8",
    "/ui/app.js": "text/javascript; charset=utf-8",
    "/ui/app.css": "text/css; charset=utf-8",
    "/ui/icon.svg": "image/svg+xml",
    "/ui/uplot.js": "text/javascript; charset=utf-8",
    "/ui/uplot.css": "text/css; charset=utf-8",
  };
  for (const [path, type] of Object.entries(types)) {
    const res = await app().request(path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), type, path);
    assert.equal(res.headers.get("content-security-policy"), UI_CONTENT_SECURITY_POLICY, path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
    const etag = res.headers.get("etag")!;
    assert.match(etag, /^"[0-9a-f]{8}-[0-9a-f]+"$/, path);
    await res.body?.cancel();
    const again = await app().request(path, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304, path);
  }
  assert.equal((await app().request("/ui/nothing.js")).status, 404);
  assert.match(UI_CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
  assert.doesNotMatch(UI_CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
});

Deno.test("the page has no inline script or style, and every element the script looks up is in it", async () => {
  assert.doesNotMatch(PAGE_HTML, /<script(?![^>]*\bsrc=)[^>]*>/, "inline script");
  assert.doesNotMatch(PAGE_HTML, /<style|\sstyle=|\son[a-z]+=/, "inline style or handler");
  const ids = [...`${CHARTS_JS}${VALIDATION_JS}${OPS_JS}${ALERTS_JS}${APP_JS}`.matchAll(/\$\("([a-z-]+)"\)/g)]
    .map((m) => m[1]!);
  assert.ok(ids.length > 10);
  for (const id of new Set(ids)) assert.match(PAGE_HTML, new RegExp(`id="${id}"`), id);
  // The served script is JavaScript that parses (it runs in the browser test).
  const js = await (await app().request("/ui/app.js")).text();
  assert.doesNotThrow(() => new Function(js));
});

Deno.test("the page's safeText escapes exactly what escapeText does, character by character", () => {
  const safeText = new Function(`${SAFE_TEXT_JS}\nreturn safeText;`)() as (v: unknown) => string;
  for (let c = 0; c <= 0xffff; c++) {
    const s = `a${String.fromCharCode(c)}b`;
    assert.equal(safeText(s), escapeText(s), `U+${c.toString(16)}`);
  }
  const hostile = "ok\x1b[31m\r\nmodule=safety kind=alert\u202e\u2028🚀";
  assert.equal(safeText(hostile), escapeText(hostile));
  assert.equal(safeText(hostile), "ok\\x1b[31m\\r\\nmodule=safety kind=alert\\u202e\\u2028🚀");
  assert.equal(safeText(null), "");
  assert.equal(safeText(undefined), "");
});

Deno.test("the script never parses text as HTML, and shows module text through safeText", () => {
  const js = `${CHARTS_JS}${SAFE_TEXT_JS}${VALIDATION_JS}${OPS_JS}${ALERTS_JS}${APP_JS}`;
  assert.doesNotMatch(
    js,
    /innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser|createContextualFragment/,
  );
  for (
    const field of [
      "a.message",
      "a.module",
      "m.last_error",
      "k.last_error",
      "safeText(k)",
      "safeText(module)",
      "s.reason",
      "s.by",
      "fd.what",
      "fd.live",
      "fd.candidate",
      "safeText(k)",
      "e.handler",
      "safeText(c)",
      "s.error",
      "safeText(a.module)",
      "safeText(a.severity)",
      "safeText(a.acked_by",
      "safeText(p.set_by)",
      "safeText(g.version)",
    ]
  ) {
    assert.ok(js.includes(field.startsWith("safeText") ? field : `safeText(${field})`), field);
  }
});

Deno.test("the served script carries the Validation panel, and every id the panel fills is in the page", async () => {
  const js = await (await app().request("/ui/app.js")).text();
  assert.ok(js.includes(VALIDATION_JS), "the panel's script is in /ui/app.js");
  assert.ok(js.indexOf(VALIDATION_JS) < js.indexOf(APP_JS), "declared before the app that calls it");
  const ids = [...VALIDATION_JS.matchAll(/\$\("([a-z-]+)"\)/g)].map((m) => m[1]!);
  for (
    const id of ["v-module", "v-shadow-facts", "v-largest", "v-times", "v-promote", "v-drop", "v-traces"]
  ) {
    assert.ok(ids.includes(id), id);
  }
  for (const id of new Set(ids)) assert.match(PAGE_HTML, new RegExp(`id="${id}"`), id);
  // The panel's only top-level statements are declarations: it must not touch the page before the app runs.
  assert.doesNotThrow(() => new Function(`${VALIDATION_JS}\nreturn typeof setupValidation;`)());
});

Deno.test("uPlot is served from the npm package, before the app script that uses it, and never from elsewhere", async () => {
  const js = await (await app().request("/ui/uplot.js")).text();
  assert.match(js, /uPlot/);
  assert.ok(js.length > 20_000, "the library itself, not a stub");
  assert.doesNotThrow(() => new Function(js));
  const css = await (await app().request("/ui/uplot.css")).text();
  assert.match(css, /\.uplot/);
  const scripts = [...PAGE_HTML.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(scripts, ["/ui/uplot.js", "/ui/app.js"]);
  assert.doesNotMatch(PAGE_HTML, /(src|href)="(https?:)?\/\//, "nothing from another origin");
  assert.match(PAGE_HTML, /<link rel="stylesheet" href="\/ui\/uplot.css">/);
});

Deno.test("the charts' history merge aligns outputs on 250 ms buckets and keeps at most 300 s of them", () => {
  const merge = new Function(`${CHARTS_JS}\nreturn mergeHistory;`)() as (
    outputs: Record<string, { t: number[]; v: (number | null)[] }>,
    keys: string[],
  ) => { t: number[]; cols: Map<string, (number | null)[]> };
  const r = merge({ a: { t: [1000, 1250, 1500], v: [1, 2, null] }, b: { t: [1250, 1750], v: [5, 6] } }, [
    "a",
    "b",
    "missing",
  ]);
  assert.deepEqual(r.t, [1, 1.25, 1.5, 1.75]);
  assert.deepEqual(r.cols.get("a"), [1, 2, null, null]);
  assert.deepEqual(r.cols.get("b"), [null, 5, null, 6]);
  assert.deepEqual(r.cols.get("missing"), [null, null, null, null]);
  const long = Array.from({ length: 2000 }, (_, i) => i * 250);
  const big = merge({ a: { t: long, v: long.map(() => 1) } }, ["a"]);
  assert.ok(big.t.length <= 300 * 4 + 8, String(big.t.length));
  assert.equal(big.t.at(-1), long.at(-1)! / 1000, "the newest are kept");
});
