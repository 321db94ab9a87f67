/**
 * What runs beside a hostile case (see `_harness.ts`): API events to the neighbour `n_event` through the
 * runtime's fast path, calls to the in-process API, and samples of the process's resident memory.
 *
 * @module
 */
import { apiPorts, createApp } from "../../api/mod.ts";
import type { Runtime } from "../../runtime/mod.ts";
import { describeError as describe } from "./_expectations.ts";

/** Period of `n_tick`, and of the events sent to `n_event`, ms. */
export const NEIGHBOUR_PERIOD_MS = 10;
const API_PERIOD_MS = 100;
const RSS_PERIOD_MS = 20;

/**
 * What runs beside a case: API events to `n_event` through `triggerEvent` every 10 ms, API calls every
 * 100 ms, and resident memory sampled every 20 ms once `startMemory` is called.
 */
export class Watch {
  /** The first few errors `triggerEvent` threw, described. */
  readonly triggerErrors: string[] = [];
  /** The first few API calls that answered 5xx: method, path, status and the start of the body. */
  readonly serverErrors: string[] = [];
  /** Events sent to `n_event` through `triggerEvent`. */
  eventsFired = 0;
  /** API calls made. */
  apiCalls = 0;
  /** The largest growth of resident memory over its value at `startMemory`, bytes. */
  rssPeakGrowth = 0;
  #rssBase = 0;
  #timers: ReturnType<typeof setInterval>[] = [];
  #inFlight: Promise<void> | null = null;
  #app;

  constructor(readonly rt: Runtime) {
    this.#app = createApp(apiPorts(rt));
    this.#timers.push(setInterval(() => this.#fire(), NEIGHBOUR_PERIOD_MS));
    this.#timers.push(setInterval(() => {
      this.#inFlight ??= this.#callApi().finally(() => this.#inFlight = null);
    }, API_PERIOD_MS));
  }

  /** Takes resident memory's base now and samples it every 20 ms from here. */
  startMemory(): void {
    this.#rssBase = Deno.memoryUsage().rss;
    this.#timers.push(setInterval(() => this.#sampleRss(), RSS_PERIOD_MS));
  }

  /** Stops everything it started and takes a last memory sample. */
  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.#inFlight;
    if (this.#rssBase > 0) this.#sampleRss();
  }

  #sampleRss(): void {
    this.rssPeakGrowth = Math.max(this.rssPeakGrowth, Deno.memoryUsage().rss - this.#rssBase);
  }

  #fire(): void {
    try {
      this.rt.triggerEvent("n_event", new Uint8Array([1]));
      this.eventsFired++;
    } catch (err) {
      if (this.triggerErrors.length < 5) this.triggerErrors.push(describe(err));
    }
  }

  async #callApi(): Promise<void> {
    const calls: [string, RequestInit?][] = [
      ["/health"],
      ["/api/v1/modules"],
      ["/api/v1/modules/hostile"],
      ["/api/v1/modules/n_event/events", { method: "POST", body: new Uint8Array([2]) }],
    ];
    for (const [path, init] of calls) {
      const res = await this.#app.request(path, init);
      this.apiCalls++;
      const body = await res.text();
      if (res.status >= 500 && this.serverErrors.length < 5) {
        this.serverErrors.push(`${init?.method ?? "GET"} ${path}: ${res.status} ${body.slice(0, 300)}`);
      }
    }
  }
}
