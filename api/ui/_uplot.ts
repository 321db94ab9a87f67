/**
 * uPlot (npm `uplot`, MIT), the dashboard's charting library, as text: its browser build (an IIFE that
 * defines the global `uPlot`) and its stylesheet, served by `mod.ts` at `/ui/uplot.js` and `/ui/uplot.css`.
 *
 * They are text imports (`with { type: "text" }`) of the npm package, not copies in the repository: from the
 * source tree Deno loads them from its npm cache as part of the module graph (no `--allow-read` needed, so
 * the sandboxed `kiln run` serves them too), and `deno bundle` inlines them into `dist/kiln.js`, so the
 * bundle and the package carry them with nothing to read at run time. The version is the one `deno.json`'s
 * import map pins (`uplot/`).
 *
 * @module
 */
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };

/** uPlot's minified browser build: a script that defines the global `uPlot`. */
export const UPLOT_JS: string = uplotJs;

/** uPlot's stylesheet (legend, cursor, selection). */
export const UPLOT_CSS: string = uplotCss;
