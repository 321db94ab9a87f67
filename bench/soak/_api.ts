/**
 * The soak's client of the gateway's API: every request it makes is counted by status (a 5xx fails the
 * soak) and timed, and its latency lands in the current window's list.
 *
 * @module
 */

/** The connector fields the soak reads; the rest of the status may change shape without breaking it. */
export interface ConnectorView {
  readonly name: string;
  readonly kind: string;
  readonly state: string;
  readonly errors: number;
  readonly reconnects: number;
  readonly last_error: string | null;
}

/** The module fields the soak reads. */
export interface ModuleView {
  readonly name: string;
  readonly state: string;
  readonly restarts: number;
  readonly traps: number;
  readonly events: number;
  readonly event_latency_us: { p50: number; p99: number; p999: number; max: number } | null;
}

/** One kind's outbox counters, as `GET /api/v1/uplink` reports them. */
export interface OutboxKindView {
  readonly depth: number;
  readonly enqueued: number;
  readonly delivered: number;
  readonly dropped: number;
  readonly overBudget: number;
}

/** The uplink fields the soak reads. */
export interface UplinkView {
  readonly connector: { readonly state: string };
  readonly outbox: {
    readonly depth: number;
    readonly sizeBytes: number;
    readonly diskBudgetBytes: number;
    readonly kinds: Readonly<Record<"alert" | "batch" | "telemetry", OutboxKindView>>;
  };
  readonly forwarder: { readonly inFlight: number };
  readonly refused_by_outbox: number;
}

/** What the client counted. */
export interface ApiCounts {
  /** Responses by status code, e.g. `{ "200": 1234 }`. */
  readonly byStatus: Record<string, number>;
  /** Requests that got no response (refused connection, timeout), by error. */
  readonly failures: Record<string, number>;
  readonly requests: number;
}

/** A client of one gateway's API. */
export class SoakApi {
  readonly #base: string;
  readonly #headers: HeadersInit;
  readonly #timeoutMs: number;
  readonly #byStatus = new Map<number, number>();
  readonly #failures = new Map<string, number>();
  #requests = 0;
  /** Latencies (ms) of the requests since the last {@linkcode SoakApi.takeLatencies}. */
  #latencies: number[] = [];

  constructor(base: string, token: string, timeoutMs = 10_000) {
    this.#base = base;
    this.#headers = { authorization: `Bearer ${token}` };
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Makes a request; resolves with its status and parsed JSON body (null when not JSON).
   *
   * @throws {Error} when no response came (counted under `failures`).
   */
  async request<T>(
    method: "GET" | "POST",
    path: string,
    body?: string,
  ): Promise<{ status: number; body: T }> {
    this.#requests++;
    const t0 = performance.now();
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method,
        headers: this.#headers,
        ...(body !== undefined && { body }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const name = (err as Error).name;
      this.#failures.set(name, (this.#failures.get(name) ?? 0) + 1);
      throw new Error(`${method} ${path}: no response (${(err as Error).message})`, { cause: err });
    }
    const text = await res.text();
    this.#latencies.push(performance.now() - t0);
    this.#byStatus.set(res.status, (this.#byStatus.get(res.status) ?? 0) + 1);
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch { /* not JSON */ }
    return { status: res.status, body: parsed as T };
  }

  /**
   * GETs `path` and returns its JSON body.
   *
   * @throws {Error} on a status other than 200, or no response.
   */
  async get<T>(path: string): Promise<T> {
    const { status, body } = await this.request<T>("GET", path);
    if (status !== 200) throw new Error(`GET ${path}: ${status} ${JSON.stringify(body)}`);
    return body;
  }

  /** `GET /api/v1/connectors`. */
  async connectors(): Promise<ConnectorView[]> {
    return (await this.get<{ connectors: ConnectorView[] }>("/api/v1/connectors")).connectors;
  }

  /** `GET /api/v1/modules`. */
  async modules(): Promise<ModuleView[]> {
    return (await this.get<{ modules: ModuleView[] }>("/api/v1/modules")).modules;
  }

  /**
   * `GET /api/v1/uplink`, its keys read in snake_case or camelCase (the API moved from the one to the other).
   */
  async uplink(): Promise<UplinkView> {
    // deno-lint-ignore no-explicit-any
    const raw = await this.get<any>("/api/v1/uplink");
    // deno-lint-ignore no-explicit-any
    const key = (o: any, snake: string, camel: string): number => Number(o?.[snake] ?? o?.[camel] ?? NaN);
    // deno-lint-ignore no-explicit-any
    const kind = (k: any): OutboxKindView => ({
      depth: key(k, "depth", "depth"),
      enqueued: key(k, "enqueued", "enqueued"),
      delivered: key(k, "delivered", "delivered"),
      dropped: key(k, "dropped", "dropped"),
      overBudget: key(k, "over_budget", "overBudget"),
    });
    const o = raw?.outbox;
    return {
      connector: { state: String(raw?.connector?.state) },
      outbox: {
        depth: key(o, "depth", "depth"),
        sizeBytes: key(o, "size_bytes", "sizeBytes"),
        diskBudgetBytes: key(o, "disk_budget_bytes", "diskBudgetBytes"),
        kinds: {
          alert: kind(o?.kinds?.alert),
          batch: kind(o?.kinds?.batch),
          telemetry: kind(o?.kinds?.telemetry),
        },
      },
      forwarder: { inFlight: key(raw?.forwarder, "in_flight", "inFlight") },
      refused_by_outbox: key(raw, "refused_by_outbox", "refusedByOutbox"),
    };
  }

  /** Returns the latencies since the last call and starts a new list. */
  takeLatencies(): number[] {
    const l = this.#latencies;
    this.#latencies = [];
    return l;
  }

  /** The counts so far. */
  counts(): ApiCounts {
    return {
      byStatus: Object.fromEntries(
        [...this.#byStatus].sort(([a], [b]) => a - b).map(([k, v]) => [`${k}`, v]),
      ),
      failures: Object.fromEntries(this.#failures),
      requests: this.#requests,
    };
  }
}
