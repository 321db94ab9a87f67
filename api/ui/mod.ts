/**
 * The dashboard: one page served by Kiln at `/`, with its stylesheet, script and icon under `/ui/`. It shows
 * the modules and their states with start, stop and restart buttons, charts for any module (its numeric
 * outputs over the last 300 s, filled from the history route at load and then live, and one of its array
 * outputs), the alerts with date and time, filters and acknowledgement, the GPIO pins with the emergency
 * stop's state, the connectors, the gateway's own figures, every module's outputs, and a Validation panel for
 * one module at a time: its shadow candidate against the live build (promote or drop it), its last trace
 * events, and its recording with a download of the trace.
 *
 * The page asks for an API token and keeps it in `sessionStorage` (gone when the tab closes). It sends it as
 * `Authorization: Bearer` on REST calls and as the first WebSocket message on `/api/v1/stream`, so these
 * routes need no token themselves (`roleFor` lets `/` and `/ui...` through) and the page holds no data. The
 * server decides what a token may do; the page asks it (`GET /api/v1/me`) and disables the controls the
 * token may not use, with a tooltip naming the role they need.
 *
 * The assets are TypeScript string constants, not files: they travel inside `deno bundle` and
 * `deno compile` output with no file reads and no build step at run time. The charts are drawn by uPlot
 * (npm `uplot`), served at `/ui/uplot.js` and `/ui/uplot.css` from text imports of the package
 * (`_uplot.ts`): no copy in the repository, nothing read from disk, nothing from another origin. Every
 * response carries a strict Content-Security-Policy: scripts and styles from this origin only (no inline
 * script or style), connections to this origin only (REST and the WebSocket), no frames.
 *
 * @example
 * ```ts ignore
 * const app = new Hono();
 * app.route("/", createUiRoutes()); // before any other GET "/" it should fall back to
 * const res = await app.request("/", { headers: { accept: "text/html" } });
 * ```
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { PAGE_HTML } from "./_page.ts";
import { STYLE_CSS } from "./_style.ts";
import { ICON_SVG } from "./_icon.ts";
import { CHARTS_JS } from "./_charts_js.ts";
import { APP_JS } from "./_app_js.ts";
import { SAFE_TEXT_JS } from "./_safe_text_js.ts";
import { VALIDATION_JS } from "./_validation_js.ts";
import { OPS_JS } from "./_ops_js.ts";
import { ALERTS_JS } from "./_alerts_js.ts";
import { UPLOT_CSS, UPLOT_JS } from "./_uplot.ts";

/**
 * The Content-Security-Policy of every dashboard response. `connect-src 'self'` also allows `ws:`/`wss:`
 * to the same host (CSP Level 3, "Matching Source Expressions"), which is what the stream needs.
 */
export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** One embedded asset: its bytes, content type and validator. */
interface Asset {
  body: string;
  type: string;
  etag: string;
}

function asset(body: string, type: string): Asset {
  return { body, type, etag: `"${fnv1a(body)}-${body.length.toString(16)}"` };
}

/** Every path served besides the page, in the order `createUiRoutes` lists them. */
export const UI_ASSET_PATHS: readonly string[] = [
  "/ui/app.js",
  "/ui/app.css",
  "/ui/icon.svg",
  "/ui/uplot.js",
  "/ui/uplot.css",
];

// The script parts share one IIFE so nothing leaks into the page's globals; uPlot is a script of its own
// before it (its global `uPlot` is the only one).
const ASSETS: Record<string, Asset> = {
  "/": asset(PAGE_HTML, "text/html; charset=utf-8"),
  "/ui/app.css": asset(STYLE_CSS, "text/css; charset=utf-8"),
  "/ui/app.js": asset(
    `(() => {\n"use strict";\n${
      [CHARTS_JS, SAFE_TEXT_JS, VALIDATION_JS, OPS_JS, ALERTS_JS, APP_JS].join("\n")
    }\n})();\n`,
    "text/javascript; charset=utf-8",
  ),
  "/ui/icon.svg": asset(ICON_SVG, "image/svg+xml"),
  "/ui/uplot.js": asset(UPLOT_JS, "text/javascript; charset=utf-8"),
  "/ui/uplot.css": asset(UPLOT_CSS, "text/css; charset=utf-8"),
};

/**
 * Routes of the dashboard, to mount at the root: `app.route("/", createUiRoutes())`.
 *
 * - `GET /`: the page, to a client that accepts `text/html` (a browser); any other client falls through to
 *   the next `GET /` handler (the API's JSON index), so mount this before it;
 * - `GET /ui` and `GET /ui/`: the page;
 * - `GET /ui/app.js`, `/ui/app.css`, `/ui/icon.svg`: its script, stylesheet and icon;
 * - `GET /ui/uplot.js`, `/ui/uplot.css`: the charting library, uPlot.
 *
 * Responses carry {@linkcode UI_CONTENT_SECURITY_POLICY}, `nosniff`, no referrer, and an ETag that a
 * revalidation (`If-None-Match`) answers with 304.
 */
export function createUiRoutes(): Hono {
  const app = new Hono();
  app.get("/", async (c, next) => {
    if (!acceptsHtml(c.req.header("accept"))) return await next();
    return serve(c, ASSETS["/"]!);
  });
  app.get("/ui", (c) => serve(c, ASSETS["/"]!));
  app.get("/ui/", (c) => serve(c, ASSETS["/"]!));
  for (const path of UI_ASSET_PATHS) {
    const a = ASSETS[path]!;
    app.get(path, (c) => serve(c, a));
  }
  return app;
}

function serve(c: Context, a: Asset): Response {
  const headers: Record<string, string> = {
    "content-type": a.type,
    "content-security-policy": UI_CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
    "etag": a.etag,
  };
  const match = c.req.header("if-none-match");
  if (match !== undefined && match.split(",").some((t) => t.trim() === a.etag)) {
    return new Response(null, { status: 304, headers });
  }
  return c.body(a.body, 200, headers);
}

/** Whether an `Accept` header lists `text/html` (or `text/*`) with a non-zero quality. */
function acceptsHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(",").some((part) => {
    const [range, ...params] = part.trim().toLowerCase().split(";");
    if (range !== "text/html" && range !== "text/*") return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** FNV-1a, 32 bits, as hex: a synchronous content hash for the ETag. */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}
